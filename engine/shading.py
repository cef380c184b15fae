"""Expression shading: the folds of the driver's expression around his mouth, carried onto the avatar.

A warp moves the avatar's skin but keeps its shading: when the driver smiles, the folds beside his mouth deepen,
his cheeks bulge and his chin creases, while her skin is only stretched. How his look changed is his current frame
against his reference frame (the one whose pose the avatar's own stands for), both brought into her target
geometry by one triangle mesh of their landmarks. The ratio of the two (an expression ratio image: Liu, Shan and
Zhang, SIGGRAPH 2001) holds the change alone, not his skin's colour or texture, which are in both frames;
multiplying her luminance by it gives her the folds he has now and she did not have. It is the same for a photo
and a painting: her own colours and texture stay hers.

The ratio is band-passed. Finer than SIGMA two frames are not aligned by their landmarks, and the finest texture
is hers. Broader than BROAD it is the light on his head changing as he turns, not his expression: a patch of his
light on her face would show its edge. Changes under DEAD_ZONE are his camera's noise, so a driver at his
reference leaves her pixels as they are, and so does one whose expression the motion's dead zone kept off her face.
The change moves her toward his current look and never past it: a fold his reference had and her face lacks
would otherwise, going, leave a bright patch on her flat skin.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.driver import Driving
from reenact.engine.landmarks import MOUTH_CORNERS, MOUTH_INNER_RING, MOUTH_OUTER_RING, face_size
from reenact.engine.mesh import (
    Box,
    apply_affines,
    fill_coverage,
    label_triangles,
    moved_against,
    triangle_affines,
)
from reenact.engine.warp import smoothstep

MESH_POINTS = 468  # MediaPipe's face mesh without the irises
# The region around the mouth centre, along and across the mouth (semi-axes in face sizes), below the base of the
# nose: the light on a nose tip changes as the head tilts back in a laugh, which is the driver's pose and his light,
# and on a portrait it read as another nose (the identity distance of the Mona Lisa's output rose 0.227 → 0.237).
REACH = (0.62, 0.5)
SUBNASALE = 2  # MediaPipe's point under the nose tip
LONGEST_EDGE = 0.25  # triangles longer than this (face sizes) bridge the region's concave edge: left out
FADE = 0.12  # the ratio fades in over this distance from the region's edge (face sizes)
SIGMA = 0.02  # finest shading carried (Gaussian σ, face sizes)
BROAD = 0.15  # broadest shading carried: what varies more slowly is light, not expression (σ, face sizes)
DEAD_ZONE = 0.02  # changes under 2 % of the luminance are the camera's noise
LIMIT = float(np.log(1.6))  # the most a fold may darken or lighten the skin
WORK_FACE = 100.0  # the ratio is computed where the target face is this large (px) at most: it is smooth
STILL_PX = 0.5  # a region whose points moved less than this (px) against the mouth corners is left as it is
DARK = 8.0  # added to the luminance (0–255) before the ratio: the noise of dark pixels is not a fold

_INNER = np.array(MOUTH_INNER_RING)
_OUTER = np.array(MOUTH_OUTER_RING)


def region_vertices(points: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.int32]]:
    """The landmarks of the region around the mouth of a face (index coords) and a triangulation of them in that
    face: one fixed mesh that brings any frame of any face into any other's geometry."""
    p = np.asarray(points, np.float64)[:MESH_POINTS, :2]
    outer = p[_OUTER]
    centre = outer.mean(0)
    axis = outer[len(_OUTER) // 2] - outer[0]
    u = axis / (np.linalg.norm(axis) + 1e-12)
    v = np.array([-u[1], u[0]])
    size = face_size(points)
    rel = p - centre
    inside = (rel @ u / (REACH[0] * size)) ** 2 + (rel @ v / (REACH[1] * size)) ** 2 <= 1.0
    inside &= rel @ v >= (p[SUBNASALE] - centre) @ v  # the nose is not the mouth's: see REACH
    idx = np.flatnonzero(inside)
    tris = delaunay(p[idx])
    corners = p[idx][tris]
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(1)
    return idx, np.ascontiguousarray(tris[edges <= LONGEST_EDGE * size])


def delaunay(points: NDArray[np.float64]) -> NDArray[np.int32]:
    """Delaunay triangles (index triples) of distinct 2-D points, by OpenCV's subdivision."""
    lo = points.min(0) - 1.0
    hi = points.max(0) + 1.0
    subdiv = cv2.Subdiv2D((int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0] - lo[0])) + 1,
                           int(np.ceil(hi[1] - lo[1])) + 1))
    for x, y in points:
        subdiv.insert((float(x), float(y)))
    corners = subdiv.getTriangleList().reshape(-1, 3, 2)
    # each corner is one of the points (the subdivision's own outer vertices lie outside their box): find which
    dist = np.linalg.norm(corners[:, :, None, :] - points[None, None], axis=3)
    nearest = dist.argmin(2)
    exact = np.take_along_axis(dist, nearest[..., None], 2)[..., 0] < 1e-2
    return np.ascontiguousarray(nearest[exact.all(1)], np.int32)


class ShadingLayer:
    """One avatar's expression shading; built once, painted once a frame before the mouth interior."""

    def __init__(self, image: NDArray[np.uint8], landmarks: NDArray) -> None:
        """landmarks: the avatar's, in its pixel index coordinates."""
        pts = np.asarray(landmarks, np.float64)[:, :2]
        self._vertices, self._triangles = region_vertices(pts)
        self._own = pts[self._vertices]
        self._own_corners = pts[list(MOUTH_CORNERS)]
        self._reference: tuple[Driving, NDArray[np.float32], Box] | None = None  # its blurred luminance, cached

    def meshes(self, mapping: NDArray[np.float32], points: NDArray[np.float64], origin: NDArray) -> list:
        return []  # it moves nothing: it shades what the other layers moved

    def paint(self, region: NDArray[np.uint8], points: NDArray[np.float64], origin: NDArray,
              driving: Driving | None) -> None:
        """Multiply the region (in place) by the driver's change of shading around the mouth."""
        if driving is None or driving.reference is None or len(self._triangles) == 0:
            return
        if moved_against(points[self._vertices], self._own, points[list(MOUTH_CORNERS)], self._own_corners) < STILL_PX:
            return  # the expression did not move her face (the motion's dead zone): nor does its shading
        size = face_size(points)
        local = points[self._vertices] - origin
        box = Box.around(local, region.shape[:2], 1.0)
        if box is None or size < 4:
            return
        scale = min(1.0, WORK_FACE / size)
        h, w = max(2, int(np.ceil(box.shape[0] * scale))), max(2, int(np.ceil(box.shape[1] * scale)))
        k = np.array([w / box.shape[1], h / box.shape[0]])
        dst = (local - [box.x0, box.y0] + 0.5) * k - 0.5  # the working grid's pixel index coordinates
        grid = Box(0, 0, w, h)
        now_luma, now_box, now_points = _luminance(driving, self._vertices)
        to_now, usable = triangle_affines(dst, now_points[self._vertices] - [now_box.x0, now_box.y0], self._triangles)
        labels = label_triangles(dst, self._triangles, grid, usable)  # `usable` depends on `dst` alone
        inside = labels > 0
        if not inside.any():
            return
        now = _warped(now_luma, to_now, labels, grid)
        then_luma, then_box, then_points = self._reference_luminance(driving.reference)
        to_then, _ = triangle_affines(dst, then_points[self._vertices] - [then_box.x0, then_box.y0], self._triangles)
        then = _warped(then_luma, to_then, labels, grid)
        work_size = size * float(k.mean())
        skin = inside.astype(np.float32)
        opening = fill_coverage((points[_INNER] - origin - [box.x0, box.y0] + 0.5) * k - 0.5, (h, w))
        log_now = np.log(now + DARK)
        change = _band(log_now - np.log(then + DARK), skin, BROAD * work_size)
        # Toward his look and never past it: where his reference had a fold that her face lacks (the slight smile
        # that matched hers), the fold's going would lighten flat skin beyond any look of his.
        own = _own_luminance(region, box, (w, h), 1.0 - opening, SIGMA * work_size)
        toward = _band(log_now - np.log(own + DARK), skin, BROAD * work_size)
        change = np.clip(change, np.minimum(toward, 0.0), np.maximum(toward, 0.0))
        change = np.clip(np.sign(change) * np.maximum(np.abs(change) - DEAD_ZONE, 0.0), -LIMIT, LIMIT)
        edge = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)
        weight = smoothstep(edge / (FADE * work_size)) * (1.0 - opening)
        change *= weight.astype(np.float32)
        if float(np.abs(change).max()) < 1e-3:
            return
        gain = cv2.resize(np.exp(change), (box.shape[1], box.shape[0]), interpolation=cv2.INTER_LINEAR)
        part = region[box.slices].astype(np.float32)
        region[box.slices] = np.clip(part * gain[..., None] + 0.5, 0, 255).astype(np.uint8)

    def _reference_luminance(self, reference: Driving) -> tuple[NDArray[np.float32], Box, NDArray[np.float64]]:
        """The reference frame's blurred luminance around the mouth: the same for every frame until it changes."""
        if self._reference is None or self._reference[0] is not reference:
            luma, box, _ = _luminance(reference, self._vertices)
            self._reference = (reference, luma, box)
        return self._reference[1], self._reference[2], np.asarray(reference.points, np.float64)[:, :2]


def _warped(luma: NDArray[np.float32], affines: NDArray, labels: NDArray[np.int32], grid: Box) -> NDArray[np.float32]:
    """A frame's blurred luminance in the target geometry of the working grid: each labelled pixel sampled where
    its triangle's affine (grid → the luminance's own pixels) takes it."""
    coords, flat = apply_affines(affines, labels, grid)
    mapping = np.full((grid.shape[0] * grid.shape[1], 2), -1.0, np.float32)
    mapping[flat] = coords
    return cv2.remap(luma, mapping.reshape(*grid.shape, 2), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _luminance(face: Driving, vertices: NDArray[np.intp]) -> tuple[NDArray[np.float32], Box, NDArray[np.float64]]:
    """A frame's luminance around its mouth (the box of its `vertices`), blurred to the finest shading carried
    (SIGMA of its face size). The mouth opening is left out of the blur: its dark is not shading, and spread into
    the lips it would lighten the lip line of a mouth that closed since (the interior is the mouth layer's)."""
    points = np.asarray(face.points, np.float64)[:, :2]
    sigma = SIGMA * face_size(points)
    box = Box.around(points[vertices], face.image.shape[:2], 3.0 * sigma + 2.0)
    if box is None:
        box = Box(0, 0, face.image.shape[1], face.image.shape[0])
    gray = cv2.cvtColor(np.ascontiguousarray(face.image[box.slices]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    skin = 1.0 - fill_coverage(points[_INNER] - [box.x0, box.y0], box.shape)
    return _skin_blur(gray, skin, sigma), box, points


def _own_luminance(region: NDArray[np.uint8], box: Box, size: tuple[int, int], skin: NDArray[np.float32],
                   sigma: float) -> NDArray[np.float32]:
    """Her luminance as the render has it so far (moved, not yet shaded) over `box`, on the working grid of `size`
    (w, h), blurred at `sigma` over her `skin` as `_luminance` blurs a frame's."""
    gray = cv2.cvtColor(np.ascontiguousarray(region[box.slices]), cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return _skin_blur(gray, skin, sigma)


def _skin_blur(gray: NDArray[np.float32], skin: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """`gray` blurred at `sigma` (0.3 px at least) over the `skin` weight alone: what lies outside it (the mouth
    opening) neither darkens nor lightens the skin beside it."""
    sigma = max(sigma, 0.3)
    return cv2.GaussianBlur(gray * skin, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(skin, (0, 0), sigma), 1e-3)


def _band(values: NDArray[np.float32], weight: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """`values` less their weighted Gaussian blur at `sigma`: what varies faster than that, inside `weight`."""
    blur = cv2.GaussianBlur(values * weight, (0, 0), sigma)
    norm = cv2.GaussianBlur(weight, (0, 0), sigma)
    return (values - blur / np.maximum(norm, 1e-6)).astype(np.float32)
