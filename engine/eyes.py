"""The eyes as their own layer: lids that close over the eye, an eyeball behind them, an iris that follows the gaze.

The lids are a mesh (engine.mesh) between the eye opening and a ring that joins the spline's map, so a blink pulls
the avatar's own lid skin down over the eye and closes it completely. Behind the lids an eyeball is built once per
avatar from its own eye: a sclera plate (the visible white with the iris painted out and the white extended beyond
the lids) and the iris as a round sprite (its hidden part completed from its visible part). Every frame the eyeball
is placed by the eye corners, so an eye opened wider than the avatar's shows more eyeball instead of stretched
lids, and the iris is drawn where the driver's gaze puts it, with white where it moved from.

A closed eye is not stretched lid skin: its crease and margin, pulled down, still read as an open eye's outline.
So each eye also has a closed look made once from the avatar's own eye, the opening filled with the lid skin around
it and a band of lashes drawn low across it, and a blink fades into it as the lids meet. The band is as wide as a
real shut eye's dark band (a sixth of the eye's width at its middle, on the bundled clip's blinks): a thin line
leaves nothing dark where the eye was, and a judge of faces (dlib) then finds the eye in the brow above it or in a
painted lid shadow, and reads it open.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.driver import Driving
from reenact.engine.landmarks import (
    IRISES,
    LEFT_EYE_CORNERS,
    LEFT_EYE_RING,
    RIGHT_EYE_CORNERS,
    RIGHT_EYE_RING,
)
from reenact.engine.mesh import (
    Box,
    Mesh,
    band_triangles,
    ellipse_ring,
    fan_triangles,
    fill_coverage,
    moved_against,
    paste_layer,
    polygon_mask,
    sample_map,
    segment_similarity,
)
from reenact.engine.motion import Similarity

EYES = ((np.array(RIGHT_EYE_RING), np.array(RIGHT_EYE_CORNERS), np.array(IRISES[0])),
        (np.array(LEFT_EYE_RING), np.array(LEFT_EYE_CORNERS), np.array(IRISES[1])))
_N = len(RIGHT_EYE_RING)
_UPPER = np.arange(1, _N // 2)  # positions in a ring of the upper lid's points, and of the lower ones facing them
_LOWER = _N - _UPPER
# The fan first: a closed, arched lid line still leaves its fan triangles some area, and the lids drawn after win.
_TRIANGLES = np.concatenate([np.where(fan_triangles(_N) == _N, 2 * _N, fan_triangles(_N)), band_triangles(_N, 2)])
RING_AXES = (0.8, 0.5)  # the ring's semi-axes along and across the eye, in eye widths (corner to corner)
PLATE_MARGIN = 0.35  # the eyeball plate reaches this far beyond the opening, in eye widths
IRIS_CLEARANCE = 1.15  # the iris painted out of the plate over this times its radius
FEATHER = 0.05  # the eyeball's soft edge under the lids, in eye widths
LASH_LINE = 0.15  # the share of the opening's height, below the upper lid's landmarks, that a closed eye shows
STILL_PX = 0.5  # an eye whose lids and iris moved less than this (px) shows the avatar's own eye, untouched
SHUT_FROM, SHUT_FULL = 0.55, 0.95  # closure (1 − gap / own gap) where the closed eye starts to show, and is whole
SHUT_MARGIN = 0.08  # the closed eye's skin covers the opening grown by this, in eye widths (the lid margin too)
LASH_HEIGHT = 0.3  # a closed eye's lash line lies this share of the opening's height above the lower lid
LASH_WIDTH = 0.17  # its thickness at the middle, in eye widths (a real shut eye's dark band: 0.15–0.19)
LASH_TAPER = 0.35  # its thickness at the corners, as a share of that


def _lid_gaps(opening: NDArray[np.float64], a: NDArray, b: NDArray, down: float) -> NDArray[np.float64]:
    """The lids' gap at each upper/lower pair of an eye opening's points, across the corner line a→b (`down`, ±1,
    turns its normal towards the lower lid). Not the pairs' distance: facing points of the two lids are not above
    one another, and a shut eye would keep their sideways offset as a gap of a quarter of its own."""
    u = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
    return np.maximum(0.0, (opening[_LOWER] - opening[_UPPER]) @ (down * np.array([-u[1], u[0]])))


def lash_stroke(line: NDArray[np.float64], shape: tuple[int, int], thickness: float) -> NDArray[np.float32]:
    """Coverage (0–1, anti-aliased) over an image of `shape` of a closed eye's lash line along `line` (corner to
    corner, pixel index coordinates): `thickness` px at its middle, tapering to LASH_TAPER of it at the corners, as
    lashes that clump along the lid margin thin out towards the eye's corners."""
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)]) / max(float(seg.sum()), 1e-9)
    half = thickness / 2 * (LASH_TAPER + (1.0 - LASH_TAPER) * np.sin(np.pi * s))
    tangent = np.gradient(line, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    outline = np.concatenate([line + normal * half[:, None], (line - normal * half[:, None])[::-1]])
    return fill_coverage(outline, shape, cv2.LINE_AA)


class Eye:
    """One eye of one avatar: its opening, the eyeball plate and the iris sprite (avatar index coordinates)."""

    def __init__(self, image: NDArray[np.uint8], points: NDArray[np.float64], ring: NDArray, corners: NDArray,
                 iris: NDArray) -> None:
        self.ring, self.corners, self.iris = ring, corners, iris
        self.opening = points[ring]
        self.corner_pts = points[corners]
        self.width = float(np.linalg.norm(self.corner_pts[1] - self.corner_pts[0]))
        # The corners are (outer, inner) for both eyes, so the corner line's normal points down for one eye and up
        # for the other; in an upright avatar the corners' left-to-right order says which.
        self.down = 1.0 if self.corner_pts[1][0] >= self.corner_pts[0][0] else -1.0
        self.iris_centre = points[iris[0]]
        self.iris_radius = float(np.linalg.norm(points[iris[1:]] - self.iris_centre, axis=1).mean())
        self.box = Box.around(self.opening, image.shape[:2], PLATE_MARGIN * self.width + 2)
        self.plate: NDArray[np.float32] | None = None
        self.closed: NDArray[np.float32] | None = None
        if self.box is not None and self.width >= 4:
            self._build_eyeball(image)
            self._build_closed(image)

    def _build_eyeball(self, image: NDArray[np.uint8]) -> None:
        box = self.box
        assert box is not None
        patch = image[box.slices]
        origin = np.array([box.x0, box.y0], np.float64)
        opening = polygon_mask(self.opening, box, 0) > 0.5
        if opening.sum() < 6:
            return  # an eye closed in the avatar has no eyeball to show
        yy, xx = np.mgrid[0 : box.shape[0], 0 : box.shape[1]]
        c = self.iris_centre - origin
        dist = np.hypot(xx - c[0], yy - c[1])
        known = opening & (dist > self.iris_radius * IRIS_CLEARANCE)
        if known.sum() < 4:
            known = opening  # all iris: no white to extend
        unknown = (~known).astype(np.uint8) * 255
        self.plate = cv2.inpaint(patch, unknown, max(2.0, self.width * 0.1), cv2.INPAINT_TELEA).astype(np.float32)
        # The iris as a disk: visible pixels as they are; a hidden one takes its mirror image across the iris's
        # horizontal line if that is visible, else the visible iris's mean colour.
        r = self.iris_radius
        inside = dist <= r + 1.0
        seen = inside & opening
        sprite = patch.astype(np.float32).copy()
        if seen.any():
            mirror_y = np.clip(np.round(2 * c[1] - yy).astype(int), 0, box.shape[0] - 1)
            mirrored = seen[mirror_y, xx]
            fill = inside & ~seen
            sprite[fill & mirrored] = patch[mirror_y, xx][fill & mirrored]
            sprite[fill & ~mirrored] = patch[seen].astype(np.float32).mean(0)
        self.sprite = sprite
        self.sprite_alpha = np.clip(r + 0.5 - dist, 0.0, 1.0).astype(np.float32)

    def _build_closed(self, image: NDArray[np.uint8]) -> None:
        """The eye shut, in the avatar's own skin: the opening and its margin inpainted from the lids around them,
        a band of lashes in the avatar's darkest margin colour drawn near the lower lid, and the mask it shows
        through."""
        box = self.box
        assert box is not None
        patch = image[box.slices]
        grow = SHUT_MARGIN * self.width + 1.0
        centre = self.opening.mean(0)
        grown = centre + (self.opening - centre) * (1.0 + grow / max(self.width / 2, 1.0))
        grown[_UPPER] -= [0, grow]
        grown[_LOWER] += [0, grow / 2]
        cover = polygon_mask(grown, box, 0) > 0.5
        if cover.sum() < 6:
            return
        skin = cv2.inpaint(patch, cover.astype(np.uint8) * 255, max(2.0, self.width * 0.15), cv2.INPAINT_TELEA)
        margin = cover & ~(polygon_mask(self.opening, box, 0) > 0.5)
        shade = patch[margin].astype(np.float32)
        lum = shade @ np.array([0.299, 0.587, 0.114], np.float32)
        lash = shade[lum <= np.percentile(lum, 10)].mean(0) if len(shade) >= 5 else skin[cover].mean(0) * 0.4
        line = self.opening[_LOWER] + LASH_HEIGHT * (self.opening[_UPPER] - self.opening[_LOWER])
        line = np.concatenate([self.opening[:1], line, self.opening[_N // 2 : _N // 2 + 1]]) - [box.x0, box.y0]
        stroke = lash_stroke(line, box.shape, max(1.0, LASH_WIDTH * self.width))
        closed = skin.astype(np.float32)
        self.closed = closed * (1.0 - stroke[..., None]) + lash * stroke[..., None]
        self.closed_mask = polygon_mask(grown, box, FEATHER * self.width + 1.0)

    def meshes(self, mapping: NDArray[np.float32], points: NDArray[np.float64], origin: NDArray) -> list[Mesh]:
        if not self.moved(points):
            return []  # an eye that only travelled with the head: the spline's map carries it well
        opening = points[self.ring] - origin
        a, b = points[self.corners] - origin
        width = float(np.linalg.norm(b - a))
        if width < 2:
            return []
        # The ring's directions come from the avatar's own opening placed by the corners: a closed, arched lid
        # line lies on one side of the corners' midpoint and would fold the mesh.
        own = self._own_opening(a, b)
        ring = ellipse_ring((a + b) / 2, b - a, own, RING_AXES[0] * width, RING_AXES[1] * width)
        src_ring = sample_map(mapping, ring)
        dst = np.concatenate([opening, ring, opening.mean(0, keepdims=True)])
        src = np.concatenate([self._lid_sources(opening, own, a, b), src_ring, self.opening.mean(0, keepdims=True)])
        return [Mesh(dst, src, _TRIANGLES)]

    def _lid_sources(self, opening: NDArray[np.float64], own: NDArray[np.float64], a: NDArray, b: NDArray
                     ) -> NDArray[np.float64]:
        """Where the opening's points sample: the avatar's own contour, with the upper lid's edge taken from inside
        the opening as the eye closes, so a closed eye shows the lash line where the lids meet (the contour's
        landmarks lie on the skin just outside the dark lid margin)."""
        src = self.opening.copy()
        gap_own, gap_now = _lid_gaps(own, a, b, self.down), _lid_gaps(opening, a, b, self.down)
        closing = np.clip((1.0 - gap_now / np.maximum(gap_own, 1e-6) - 0.05) / 0.95, 0.0, 1.0)[:, None]  # still: 0
        src[_UPPER] += closing * LASH_LINE * (self.opening[_LOWER] - self.opening[_UPPER])
        return src

    def moved(self, points: NDArray[np.float64]) -> bool:
        """Whether the lids or the iris moved against the eye corners (a still eye keeps the avatar's pixels)."""
        now = np.concatenate([points[self.ring], points[self.iris[:1]]])
        own = np.concatenate([self.opening, self.iris_centre[None]])
        return moved_against(now, own, points[self.corners], self.corner_pts) > STILL_PX

    def paint(self, region: NDArray[np.uint8], points: NDArray[np.float64], origin: NDArray) -> None:
        if self.box is None or not self.moved(points):
            return
        opening = points[self.ring] - origin
        a, b = points[self.corners] - origin
        width = float(np.linalg.norm(b - a))
        to_avatar = segment_similarity(a, b, *self.corner_pts)
        if self.plate is not None:
            self._paint_eyeball(region, opening, points[self.iris[0]] - origin, width, to_avatar)
        shut = self._shut(opening, a, b)
        if self.closed is not None and shut > 0:
            grown = to_avatar.inverse().apply(self.box.corners)
            box = Box.around(grown, region.shape[:2], 1.0)
            if box is not None:
                q = self._plate_coords(box, to_avatar)
                closed = cv2.remap(self.closed, q, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                mask = cv2.remap(self.closed_mask, q, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                paste_layer(region, box, closed, mask * shut)

    def _shut(self, opening: NDArray[np.float64], a: NDArray, b: NDArray) -> float:
        """How far the closed look shows (0–1, smooth): by the lids' gap against the avatar's own, eye placed by
        its corners."""
        gap_own = float(_lid_gaps(self._own_opening(a, b), a, b, self.down).mean())
        gap_now = float(_lid_gaps(opening, a, b, self.down).mean())
        t = np.clip((1.0 - gap_now / max(gap_own, 1e-6) - SHUT_FROM) / (SHUT_FULL - SHUT_FROM), 0.0, 1.0)
        return float(t * t * (3 - 2 * t))

    def _own_opening(self, a: NDArray, b: NDArray) -> NDArray[np.float64]:
        """The avatar's own eye opening placed by the corners a, b: this eye as it would look unmoved."""
        return segment_similarity(*self.corner_pts, a, b).apply(self.opening)

    def _plate_coords(self, box: Box, to_avatar: Similarity) -> NDArray[np.float32]:
        """Per pixel of `box` (region coordinates), where it lies in the eye's plates (avatar pixels, no stretch)."""
        assert self.box is not None
        yy, xx = np.mgrid[box.y0 : box.y1, box.x0 : box.x1].astype(np.float64)
        q = to_avatar.apply(np.stack([xx.ravel(), yy.ravel()], 1)) - [self.box.x0, self.box.y0]
        return q.reshape(*box.shape, 2).astype(np.float32)

    def _paint_eyeball(self, region: NDArray[np.uint8], opening: NDArray[np.float64], iris_now: NDArray,
                       width: float, to_avatar: Similarity) -> None:
        assert self.box is not None and self.plate is not None
        box = Box.around(opening, region.shape[:2], 1.0)
        if box is None:
            return
        mask = polygon_mask(opening, box, FEATHER * width)
        if mask.max() <= 0:
            return  # a closed eye: the lids cover it
        q = self._plate_coords(box, to_avatar)
        iris_at = to_avatar.apply(iris_now) - [self.box.x0, self.box.y0]
        q_iris = q + (self.iris_centre - [self.box.x0, self.box.y0] - iris_at).astype(np.float32)
        white = cv2.remap(self.plate, q, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        iris = cv2.remap(self.sprite, q_iris, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(self.sprite_alpha, q_iris, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        eyeball = white * (1.0 - alpha[..., None]) + iris * alpha[..., None]
        paste_layer(region, box, eyeball, mask)


class EyesLayer:
    """Both eyes of one avatar; built once, called twice a frame (remap before sampling, paint after)."""

    def __init__(self, image: NDArray[np.uint8], landmarks: NDArray) -> None:
        pts = np.asarray(landmarks, np.float64)[:, :2]
        self.eyes = tuple(Eye(image, pts, ring, corners, iris) for ring, corners, iris in EYES)

    def meshes(self, mapping: NDArray[np.float32], points: NDArray[np.float64], origin: NDArray) -> list[Mesh]:
        return [m for eye in self.eyes for m in eye.meshes(mapping, points, origin)]

    def paint(self, region: NDArray[np.uint8], points: NDArray[np.float64], origin: NDArray,
              driving: Driving | None = None) -> None:
        for eye in self.eyes:
            eye.paint(region, points, origin)
