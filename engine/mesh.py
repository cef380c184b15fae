"""Piecewise-affine maps over a small mesh: how the mouth and the eyes are warped with exact boundaries.

A thin-plate spline is smooth everywhere, so it cannot let two contours meet: when the driver's lips close, the
spline still samples the avatar's teeth between them, and a blink leaves a stripe of eyeball. A mesh of triangles
between fixed contours can: each triangle of lip (or lid) in the output samples the same triangle of the avatar,
so the inner-lip contour may collapse to a line and the lips then meet. Outside its outer ring the mesh hands over
to the spline's map, whose values it takes at the ring's vertices, so the seam is continuous.

Coordinates are pixel indices of the map being written (centres at integers, as cv2.remap reads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.motion import Similarity, fit_similarity

_SHIFT = 4  # fillConvexPoly's fixed-point bits: vertices at 1/16 px


@lru_cache(maxsize=16)
def band_triangles(n: int, rings: int) -> NDArray[np.int32]:
    """Triangles between `rings` closed contours of `n` points each, stored contour after contour (inner first):
    every quad between neighbouring contours split in two."""
    tris = []
    for r in range(rings - 1):
        a, b = r * n, (r + 1) * n
        for i in range(n):
            j = (i + 1) % n
            tris += [(a + i, a + j, b + i), (a + j, b + j, b + i)]
    out = np.array(tris, np.int32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def fan_triangles(n: int) -> NDArray[np.int32]:
    """A closed contour of `n` points (0..n-1) and its centre (n) as a fan of triangles."""
    out = np.array([(i, (i + 1) % n, n) for i in range(n)], np.int32)
    out.setflags(write=False)
    return out


def ellipse_ring(centre: NDArray, axis: NDArray, points: NDArray, a: float, b: float) -> NDArray[np.float64]:
    """For each contour point, the point of an ellipse (semi-axes a along `axis`, b across it, around `centre`) in
    the same direction from the centre: an outer ring whose quads with the contour never fold."""
    u = axis / (np.linalg.norm(axis) + 1e-12)
    v = np.array([-u[1], u[0]])
    rel = np.asarray(points, np.float64) - centre
    ang = np.arctan2(rel @ v, rel @ u)
    return centre + np.outer(a * np.cos(ang), u) + np.outer(b * np.sin(ang), v)


@dataclass(frozen=True, slots=True)
class Box:
    """Integer pixel box [x0, x1) × [y0, y1) of a map."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, points: NDArray, shape: tuple[int, int], margin: float = 1.0) -> Box | None:
        """The box of `points` grown by `margin` px and clipped to a map of `shape` (h, w); None if empty."""
        lo = np.floor(points.min(0) - margin).astype(int)
        hi = np.ceil(points.max(0) + margin).astype(int) + 1
        x0, y0 = max(0, lo[0]), max(0, lo[1])
        x1, y1 = min(shape[1], hi[0]), min(shape[0], hi[1])
        return cls(int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None

    @property
    def corners(self) -> NDArray[np.float64]:
        """The box's four corner points (x, y)."""
        return np.array([(self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1)], np.float64)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def triangle_affines(dst: NDArray, src: NDArray, triangles: NDArray[np.int32]) -> tuple[NDArray, NDArray[np.bool_]]:
    """Per triangle, the 2×3 affine taking its `dst` corners to its `src` corners, and which triangles have area
    in `dst` (a collapsed one covers no pixel and has no inverse). Written out (edge vectors and their 2×2 inverse)
    rather than a batched matrix inverse: the layers ask for hundreds of these every frame."""
    d = np.asarray(dst, np.float64)[triangles]  # T×3×2
    s = np.asarray(src, np.float64)[triangles]
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-6
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    inv = np.stack([np.stack([e2[:, 1], -e2[:, 0]], -1), np.stack([-e1[:, 1], e1[:, 0]], -1)], 1) * inv_det[:, None, None]
    f = np.stack([s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]], -1)  # T×2×2, columns: the source edges
    linear = f @ inv
    offset = s[:, 0] - np.einsum("tij,tj->ti", linear, d[:, 0])
    out = np.concatenate([linear, offset[:, :, None]], axis=2)
    out[~ok] = 0.0
    return out, ok


def label_triangles(dst: NDArray, triangles: NDArray[np.int32], box: Box, usable: NDArray[np.bool_]
                    ) -> NDArray[np.int32]:
    """An image over `box` holding, per pixel, 1 + the index of the (last) triangle covering it, 0 for none.
    Borders are drawn by both neighbours, so no pixel between two triangles is left out."""
    labels = np.zeros(box.shape, np.int32)
    pts = np.round((np.asarray(dst, np.float64) - [box.x0, box.y0]) * (1 << _SHIFT)).astype(np.int32)
    for i, tri in enumerate(triangles):
        if usable[i]:
            cv2.fillConvexPoly(labels, pts[tri], i + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return labels


def apply_affines(affines: NDArray, labels: NDArray[np.int32], box: Box) -> tuple[NDArray[np.float32], NDArray]:
    """Source coordinates (k×2) of the labelled pixels of `box` and their flat indices into the box."""
    flat = np.flatnonzero(labels)
    if not len(flat):
        return np.zeros((0, 2), np.float32), flat
    ys, xs = np.divmod(flat, box.shape[1])
    a = affines[labels.ravel()[flat] - 1]  # k×2×3
    x = (xs + box.x0).astype(np.float64)
    y = (ys + box.y0).astype(np.float64)
    out = a[:, :, 0] * x[:, None] + a[:, :, 1] * y[:, None] + a[:, :, 2]
    return out.astype(np.float32), flat


def sample_map(values: NDArray[np.float32], points: NDArray) -> NDArray[np.float64]:
    """A map (h×w×2) read bilinearly at `points` (k×2, its pixel indices), clamped to its edge."""
    h, w = values.shape[:2]
    p = np.asarray(points, np.float64)
    x = np.clip(p[:, 0], 0, w - 1)
    y = np.clip(p[:, 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(int), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(int), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = values[y0, x0] * (1 - fx) + values[y0, x1] * fx
    bottom = values[y1, x0] * (1 - fx) + values[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@dataclass(frozen=True, slots=True)
class Mesh:
    """Triangles over vertices: where each vertex is in the output (`dst`) and where it samples (`src`)."""

    dst: NDArray[np.float64]
    src: NDArray[np.float64]
    triangles: NDArray[np.int32]

    @staticmethod
    def merge(meshes: list[Mesh]) -> Mesh:
        """One mesh of several (the mouth and both eyes): the map is then written in one pass."""
        offsets = np.cumsum([0] + [len(m.dst) for m in meshes[:-1]])
        return Mesh(np.concatenate([m.dst for m in meshes]), np.concatenate([m.src for m in meshes]),
                    np.concatenate([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]))


def overwrite_map(mapping: NDArray[np.float32], dst: NDArray, src: NDArray, triangles: NDArray[np.int32]
                  ) -> Box | None:
    """Replace `mapping` (h×w×2 backward map: output pixel → where to sample) inside the mesh by the mesh's own
    piecewise-affine map taking `dst` (output positions of the vertices) to `src` (where they sample). Returns
    the box it touched."""
    box = Box.around(np.asarray(dst)[np.unique(triangles)], mapping.shape[:2])
    if box is None:
        return None
    affines, usable = triangle_affines(dst, src, triangles)
    labels = label_triangles(dst, triangles, box, usable)
    coords, flat = apply_affines(affines, labels, box)
    if len(flat):
        roi = mapping[box.slices].reshape(-1, 2)  # a view: the box is contiguous in rows only, so copy back
        roi[flat] = coords
        mapping[box.slices] = roi.reshape(*box.shape, 2)
    return box


def fill_coverage(points: NDArray, shape: tuple[int, int], line_type: int = cv2.LINE_8) -> NDArray[np.float32]:
    """A polygon's coverage (0–1) of each pixel of an image of `shape` (points in its pixel index coordinates), from
    a 4× supersampled fill: pixel centres of the fine grid at (i + 0.5) / 4 − 0.5."""
    fine = np.zeros((shape[0] * 4, shape[1] * 4), np.uint8)
    pts = np.round((np.asarray(points, np.float64) * 4 + 1.5) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(fine, [pts], 255, lineType=line_type, shift=_SHIFT)
    return cv2.resize(fine, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def polygon_area(points: NDArray) -> float:
    """A closed polygon's area (the shoelace formula; 0 for one collapsed to a line)."""
    x, y = np.asarray(points, np.float64)[:, 0], np.asarray(points, np.float64)[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polygon_mask(points: NDArray, box: Box, feather: float) -> NDArray[np.float32]:
    """A polygon's coverage over `box` (points in the coordinates the box is in; 1 inside), its edge softened
    inwards over `feather` px: a layer pasted with it shows no hard seam. A polygon thinner than half a pixel on
    average (closed lips or lids, an arched line) covers nothing: drawing its outline would paint along it."""
    q = np.asarray(points, np.float64) - [box.x0, box.y0]
    area = polygon_area(q)
    length = float(np.linalg.norm(np.diff(np.vstack([q, q[:1]]), axis=0), axis=1).sum())
    if area <= 0.25 * length:  # mean thickness (≈ 2·area / length) under half a pixel
        return np.zeros(box.shape, np.float32)
    m = fill_coverage(q, box.shape)
    if feather > 0.5:
        inside = cv2.distanceTransform((m > 0.5).astype(np.uint8), cv2.DIST_L2, 3)  # px from the outside
        m = np.minimum(m, np.clip(inside / feather, 0.0, 1.0))
    return m


def paste_layer(region: NDArray[np.uint8], box: Box, content: NDArray[np.float32], mask: NDArray[np.float32]
                ) -> None:
    """Blend `content` (float RGB over `box`) into `region` in place, as far as `mask` says (rounded, saturated)."""
    part = region[box.slices].astype(np.float32)
    m = mask[..., None]
    region[box.slices] = np.clip(part * (1.0 - m) + content * m + 0.5, 0, 255).astype(np.uint8)


def segment_similarity(a: NDArray, b: NDArray, to_a: NDArray, to_b: NDArray) -> Similarity:
    """The similarity taking the segment a→b onto to_a→to_b (an eye or a mouth placed by its two corners). Two
    point pairs fix a similarity exactly, so it is written down (the rotation and scale that turn one segment into
    the other) instead of fitted: the eyes and the mouth ask for a dozen of these every frame."""
    a, b, to_a, to_b = (np.asarray(p, np.float64)[:2] for p in (a, b, to_a, to_b))
    v, w = b - a, to_b - to_a
    length2 = float(v @ v)
    if length2 < 1e-18:  # no segment to turn: the least-squares fit of what there is
        return fit_similarity(np.array([a, b]), np.array([to_a, to_b]))
    cos, sin = float(v @ w) / length2, float(v[0] * w[1] - v[1] * w[0]) / length2  # scale · (cos, sin) of the turn
    scale = float(np.hypot(cos, sin))
    if scale < 1e-12:
        return fit_similarity(np.array([a, b]), np.array([to_a, to_b]))
    rot = np.array([[cos, -sin], [sin, cos]]) / scale
    return Similarity(scale, rot, to_a - scale * rot @ a)


def moved_against(now: NDArray, own: NDArray, corners_now: NDArray, corners_own: NDArray) -> float:
    """How far (px, largest over the points) a feature's points moved from their own places once the feature is
    put back by its corners: 0 for a feature that only travelled with the head."""
    back = segment_similarity(*corners_now, *corners_own).apply(now)
    return float(np.linalg.norm(back - own, axis=1).max())
