"""The mouth as its own layer: lips that can meet, and an interior that comes from the driver.

The lips are a mesh (engine.mesh) between the inner and outer lip contours, inside a ring that joins the spline's
map: each lip samples the avatar's own lip, so the inner contour may close to a line (no teeth left between closed
lips) or open wide (no stretched lip texture). The opening is filled with the driver's own mouth interior (teeth,
tongue, the dark of the mouth) warped into the avatar's inner-lip shape and matched to the avatar's colours by
moving its LAB mean and spread from the driver's lips and the skin around them to the avatar's; as Deep-Live-Cam's
mouth mask and Face2Face's mouth transfer do. Its edge is the contour's own anti-aliased coverage, half a pixel either
side: a feather inside the contour shrinks a thin opening by its width twice over (an opening 4 px high on a 40-px
mouth showed 1 px of interior, and read as closed lips), and a real inner-lip edge is sharp. It works for paintings
as for photos: the colours come from the avatar's own mouth.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.driver import Driving
from reenact.engine.landmarks import MOUTH_INNER_RING, MOUTH_OUTER_RING
from reenact.engine.mesh import (
    Box,
    Mesh,
    band_triangles,
    ellipse_ring,
    fan_triangles,
    moved_against,
    overwrite_map,
    paste_layer,
    polygon_area,
    polygon_mask,
    sample_map,
)

_INNER = np.array(MOUTH_INNER_RING)
_OUTER = np.array(MOUTH_OUTER_RING)
_N = len(_INNER)
_CORNERS = (0, _N // 2)  # the outer contour's mouth corners
# Lips (inner → outer contour), the skin ring that joins the spline, and the opening as a fan around its centre.
# The fan first: a closed, arched lip line still leaves its fan triangles some area, and the lips drawn after win.
_TRIANGLES = np.concatenate([np.where(fan_triangles(_N) == _N, 3 * _N, fan_triangles(_N)), band_triangles(_N, 3)])
_FAN = fan_triangles(_N)
RING_WIDTH = 1.5  # the ring's half-width, in half mouth widths
RING_MARGIN = 0.35  # how far the ring reaches beyond the lips above and below, in mouth widths
STILL_PX = 0.5  # inner lips that moved less than this (px) show the avatar's own mouth, untouched
OWN_OPEN = 0.05  # an avatar whose inner lips are this far apart on average (mouth widths) shows her own interior
OWN_STRETCH = (1.25, 2.0)  # her own interior fills openings up to the first times her own, the driver's from the second
DRIVER_COLOUR_FRAMES = 10  # the driver's mouth colours are measured once every this many frames
MAX_SPREAD_RATIO = 2.5  # limits of the colour transfer's spread ratio (a flat-coloured lip would explode it)


def mouth_width(points: NDArray[np.float64]) -> float:
    outer = points[_OUTER]
    return float(np.linalg.norm(outer[_CORNERS[1]] - outer[_CORNERS[0]]))


def opening_height(inner: NDArray[np.float64]) -> float:
    """The inner-lip contour's mean height: its area over its corner-to-corner width (px; 0 when closed)."""
    return polygon_area(inner) / max(float(np.linalg.norm(inner[_N // 2] - inner[0])), 1e-9)


def fan_map(shape: tuple[int, int], dst: NDArray[np.float64], src: NDArray[np.float64]) -> NDArray[np.float32]:
    """A backward map over `shape` taking the contour `dst` (and its centre) onto `src`: an opening's pixels to where
    they sample another mouth's opening. Outside the fan it samples `src`'s centre."""
    mapping = np.empty((*shape, 2), np.float32)
    mapping[:] = src.mean(0)
    overwrite_map(mapping, np.concatenate([dst, dst.mean(0, keepdims=True)]),
                  np.concatenate([src, src.mean(0, keepdims=True)]), _FAN)
    return mapping


def ring(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """The mouth mesh's outer ring: an ellipse around the lips, clear of them however wide the mouth opens."""
    outer = points[_OUTER]
    axis = outer[_CORNERS[1]] - outer[_CORNERS[0]]
    width = float(np.linalg.norm(axis)) + 1e-9
    centre = outer.mean(0)
    u = axis / width
    across = np.abs((outer - centre) @ np.array([-u[1], u[0]])).max()
    return ellipse_ring(centre, axis, outer, RING_WIDTH * width / 2, across + RING_MARGIN * width)


def lab_stats(image: NDArray[np.uint8], outer: NDArray, inner: NDArray) -> tuple[NDArray, NDArray] | None:
    """Mean and spread of the LAB colour between two contours (index coords): the lips and the skin around them,
    whose tones the mouth interior is matched to."""
    box = Box.around(outer, image.shape[:2], 2.0)
    if box is None:
        return None
    band = np.zeros(box.shape, np.uint8)
    origin = [box.x0, box.y0]
    cv2.fillPoly(band, [np.round(outer - origin).astype(np.int32)], 1)
    cv2.fillPoly(band, [np.round(inner - origin).astype(np.int32)], 0)
    if int(band.sum()) < 8:
        return None
    lab = cv2.cvtColor(image[box.slices].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean, std = cv2.meanStdDev(lab, mask=band)
    return mean.ravel(), std.ravel() + 1e-3


def transfer_colour(rgb: NDArray[np.float32], source: tuple[NDArray, NDArray], target: tuple[NDArray, NDArray]
                    ) -> NDArray[np.float32]:
    """`rgb` (float, [0, 255]) moved from the `source` colour statistics to the `target`'s (LAB mean and spread).

    The colour channels' spread may shrink but never grow. Between the lips and the skin it is their contrast of
    hue (a lipstick, a ruddy cheek), which says nothing of how far teeth lie from that hue: scaled up, the near-grey
    teeth of a driver with an even complexion swung past grey to the opposite hue (green teeth in a ruddy face)."""
    lab = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    ratio = np.clip(target[1] / source[1], 1.0 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    ratio[1:] = np.minimum(ratio[1:], 1.0)
    lab = (lab - source[0]) * ratio + target[0]
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0


class MouthLayer:
    """One avatar's mouth; built once, called twice a frame (remap before sampling, paint after)."""

    def __init__(self, image: NDArray[np.uint8], landmarks: NDArray) -> None:
        """landmarks: the avatar's, in its pixel index coordinates (centres at integers)."""
        pts = np.asarray(landmarks, np.float64)[:, :2]
        self._inner, self._outer = pts[_INNER], pts[_OUTER]
        self._colours = lab_stats(image, ring(pts), self._inner)
        # An avatar photographed with her mouth open has an interior of her own (her teeth): it is hers, and an
        # opening no larger than hers shows it rather than the driver's teeth in her colours.
        own = opening_height(self._inner)
        self._own = (image, own) if own >= OWN_OPEN * mouth_width(pts) else None
        self._driver: tuple[tuple[NDArray, NDArray] | None, int] = (None, 0)  # its colours, and frames since

    def _driver_colours(self, frame: NDArray[np.uint8], points: NDArray[np.float64]) -> tuple[NDArray, NDArray] | None:
        """The driver's mouth colours, measured again every few frames (light changes slowly)."""
        colours, age = self._driver
        if colours is None or age >= DRIVER_COLOUR_FRAMES:
            colours, age = lab_stats(frame, ring(points), points[_INNER]), 0
        self._driver = (colours, age + 1)
        return colours

    def meshes(self, mapping: NDArray[np.float32], points: NDArray[np.float64], origin: NDArray) -> list[Mesh]:
        """The lip mesh that replaces the backward `mapping` (region pixels → avatar index coords) around the
        mouth. `points`: the target landmarks (avatar index coords); `origin`: the region's top-left pixel."""
        local = points - origin
        if mouth_width(local) < 2:
            return []
        inner, outer, around = local[_INNER], local[_OUTER], ring(local)
        src_ring = sample_map(mapping, around)  # the ring samples where the spline (and network) say: no seam
        dst = np.concatenate([inner, outer, around, inner.mean(0, keepdims=True)])
        src = np.concatenate([self._inner, self._outer, src_ring, self._inner.mean(0, keepdims=True)])
        return [Mesh(dst, src, _TRIANGLES)]

    def paint(self, region: NDArray[np.uint8], points: NDArray[np.float64], origin: NDArray,
              driving: Driving | None) -> None:
        """Fill the target mouth opening in `region` (in place) with the driver's mouth interior."""
        if driving is None or self._colours is None:
            return
        corners = [_OUTER[_CORNERS[0]], _OUTER[_CORNERS[1]]]
        if moved_against(points[_INNER], self._inner, points[corners], self._outer[list(_CORNERS)]) < STILL_PX:
            return  # the avatar's own mouth, as it is
        inner = points[_INNER] - origin
        box = Box.around(inner, region.shape[:2], 2.0)
        if box is None:
            return
        local = inner - [box.x0, box.y0]
        mask = polygon_mask(inner, box, 0.0)
        if mask.max() <= 0:
            return  # closed: the lips meet
        share = self._own_share(inner)
        interior = None
        if share < 1.0:
            interior = self._drivers_interior(driving, local, box)
            if interior is None:
                share = 1.0 if self._own is not None else 0.0
        if share > 0.0:
            assert self._own is not None
            own = cv2.remap(self._own[0], fan_map(box.shape, local, self._inner), None, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
            interior = own if interior is None else share * own + (1.0 - share) * interior
        if interior is not None:
            paste_layer(region, box, interior, mask)

    def _own_share(self, inner: NDArray[np.float64]) -> float:
        """How much of the interior is the avatar's own: all of it while the opening is at most a little larger than
        hers (her teeth, a little stretched), none from where it would stretch them too far; a blend between."""
        if self._own is None:
            return 0.0
        stretch = opening_height(inner) / self._own[1]
        lo, hi = OWN_STRETCH
        return float(np.clip((hi - stretch) / (hi - lo), 0.0, 1.0))

    def _drivers_interior(self, driving: Driving, local: NDArray[np.float64], box: Box) -> NDArray[np.float32] | None:
        """The driver's mouth interior warped into the target opening (`local`, box coords) in the avatar's
        colours; None when his mouth's colours cannot be measured."""
        d_pts = np.asarray(driving.points, np.float64)[:, :2]
        colours = self._driver_colours(driving.image, d_pts)
        if colours is None:
            return None
        interior = cv2.remap(driving.image, fan_map(box.shape, local, d_pts[_INNER]), None, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        return transfer_colour(interior.astype(np.float32), colours, self._colours)
