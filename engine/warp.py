"""The analytic motion model: a thin-plate-spline backward warp of the avatar crop from landmarks.

No learning: the TPS maps each output pixel (where the transferred landmarks are) to where it comes from in the
avatar (where the avatar's landmarks are). Fixed points on the crop border keep the edges still, so the crop pastes
back seamlessly. It is the fallback when no weights exist, the baseline the trained model must beat, and an input
of that model. The spline is solved on a coarse grid and upsampled: it is smooth, so nothing is lost.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import WarpConfig
from reenact.engine.landmarks import WARP_SUBSET

_SUBSET = np.array(WARP_SUBSET)


def to_normalized(points: NDArray, size: int) -> NDArray[np.float32]:
    """Crop coordinates (continuous pixels) → [-1, 1], the convention of grid_sample(align_corners=False)."""
    return (np.asarray(points, dtype=np.float32)[..., :2] * (2.0 / size) - 1.0).astype(np.float32)


def from_normalized(points: NDArray, size: int) -> NDArray[np.float32]:
    return ((np.asarray(points, dtype=np.float32) + 1.0) * (size / 2.0)).astype(np.float32)


@lru_cache(maxsize=8)
def _border_points(n: int) -> NDArray[np.float64]:
    t = np.linspace(-1.0, 1.0, n + 1)[:-1]
    ones = np.ones_like(t)
    return np.concatenate(
        [np.stack([t, -ones], 1), np.stack([ones, t], 1), np.stack([-t, ones], 1), np.stack([-ones, -t], 1)]
    )


@lru_cache(maxsize=8)
def _grid_points(n: int) -> NDArray[np.float64]:
    c = (2 * np.arange(n) + 1) / n - 1
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


@lru_cache(maxsize=8)
def identity_grid(size: int) -> NDArray[np.float32]:
    g = _grid_points(size).reshape(size, size, 2).astype(np.float32)
    g.setflags(write=False)
    return g


def _kernel(a: NDArray, b: NDArray) -> NDArray:
    """TPS radial basis r² log r between two point sets (in their dtype; float32 for the big grid)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    np.maximum(d2, 1e-12, out=d2)
    return 0.5 * d2 * np.log(d2)


@lru_cache(maxsize=8)
def _grid_points32(n: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    pts = _grid_points(n).astype(np.float32)
    sq = (pts * pts).sum(1, keepdims=True)
    pts.setflags(write=False)
    sq.setflags(write=False)
    return pts, sq


def _grid_kernel(n: int, ctrl: NDArray[np.float32]) -> NDArray[np.float32]:
    """`_kernel` from the n×n evaluation grid to the control points, in place on one float32 buffer.

    The per-frame hot spot of the warp: no broadcast temporaries, OpenCV's vectorised log.
    """
    pts, sq = _grid_points32(n)
    d2 = pts @ (ctrl.T * -2.0)
    d2 += sq
    d2 += (ctrl * ctrl).sum(1)[None, :]
    np.maximum(d2, 1e-12, out=d2)
    log = cv2.log(d2)
    return cv2.multiply(d2, log, dst=log, scale=0.5)


def tps_grid(
    source: NDArray, target: NDArray, size: int, config: WarpConfig | None = None
) -> NDArray[np.float32]:
    """Backward-warp grid (size×size×2, values in [-1, 1]) that moves the avatar from `source` to `target`.

    source, target: the avatar's and the transferred landmarks (478×2 or N×2, crop pixels). For every output
    pixel the grid holds where to sample the avatar crop.
    """
    cfg = config or WarpConfig()
    src = to_normalized(source, size).astype(np.float64)
    dst = to_normalized(target, size).astype(np.float64)
    if len(src) != len(_SUBSET) and len(src) > _SUBSET.max():
        src, dst = src[_SUBSET], dst[_SUBSET]
    border = _border_points(cfg.border_points)
    ctrl = np.concatenate([dst, border])  # where points are in the output
    vals = np.concatenate([src, border])  # where they come from in the avatar
    n = len(ctrl)
    k = _kernel(ctrl, ctrl) + cfg.regularization * np.eye(n)
    p = np.concatenate([np.ones((n, 1)), ctrl], axis=1)
    lhs = np.zeros((n + 3, n + 3))
    lhs[:n, :n], lhs[:n, n:], lhs[n:, :n] = k, p, p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = vals
    coef = np.linalg.solve(lhs, rhs)
    # The displacement from identity is what gets upsampled: it is zero on the border, so the edges stay exact.
    pts = _grid_points32(cfg.grid_size)[0]
    coef32 = coef.astype(np.float32)
    coarse = _grid_kernel(cfg.grid_size, ctrl.astype(np.float32)) @ coef32[:n] + coef32[n] + pts @ coef32[n + 1 :] - pts
    coarse = coarse.reshape(cfg.grid_size, cfg.grid_size, 2)
    if cfg.grid_size != size:
        coarse = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    return coarse + identity_grid(size)


def warp_image(image: NDArray[np.uint8], grid: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Sample image at grid (bilinear, mirrored at the edges, like the crop's own padding): the network-free
    animated crop."""
    h, w = image.shape[:2]
    map_x = (grid[..., 0] + 1.0) * (w / 2.0) - 0.5
    map_y = (grid[..., 1] + 1.0) * (h / 2.0) - 0.5
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
