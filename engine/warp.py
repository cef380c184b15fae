"""The analytic motion model, head first: a rigid motion of the whole head, then a thin-plate spline from landmarks.

No learning: the field maps each output pixel (where the transferred landmarks are) to where it comes from in the
avatar (where the avatar's landmarks are). The head's similarity carries hair and outline with the face inside a soft
outline fitted once to the avatar; the spline adds the expression; beyond the outline the background stays still, so
the region pastes back seamlessly. It is what animates a CPU without a GPU (engine.mode), the baseline the trained
model must beat, and an input of that model. The field is solved on a coarse grid and upsampled: it is smooth, so
nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import WarpConfig
from reenact.engine.landmarks import (
    FACE_OVAL,
    IRIS_CENTRES,
    LIPS_INNER_BOTTOM,
    LIPS_INNER_TOP,
    RIGID,
    WARP_SUBSET,
)
from reenact.engine.motion import Similarity, fit_similarity, rotation

# The head warp's spline leaves the irises and the inner lips to the eye and mouth meshes (engine.eyes,
# engine.mouth): closed lips put two of its points on one spot with different sources, and a moving iris would
# drag the skin around the eye.
_SPLINE = np.array([i for i in WARP_SUBSET if i not in {*IRIS_CENTRES, *LIPS_INNER_TOP, *LIPS_INNER_BOTTOM}])
HAIR_CELLS = 160  # the person's alpha is looked at on this many cells across the warped region (head_support)
HEAD_MARGIN = 0.12  # normalised crop units around the avatar's head where the field follows the head (HeadWarp)


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


def cell_centres(n: int) -> NDArray[np.float64]:
    """The centres of n equal cells across [-1, 1]: where a field or map laid over a span has its values."""
    return (2 * np.arange(n) + 1) / n - 1


def to_cells(points: NDArray, n: int, extent: float) -> NDArray[np.float32]:
    """Points (normalised crop units) → cell coordinates of an n-cell map over ±`extent` (centres at integers): the
    inverse of `cell_centres` scaled by `extent`."""
    return (np.asarray(points) * (n / (2 * extent)) + (n / 2 - 0.5)).astype(np.float32)


@lru_cache(maxsize=8)
def _grid_points(n: int) -> NDArray[np.float64]:
    c = cell_centres(n)
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


def _solve_tps(src: NDArray[np.float64], dst: NDArray[np.float64], cfg: WarpConfig
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Spline taking `dst` (where points are in the output) to `src` (where they come from), with the crop border
    held still; returns its control points and coefficients."""
    border = _border_points(cfg.border_points)
    ctrl = np.concatenate([dst, border])
    vals = np.concatenate([src, border])
    n = len(ctrl)
    k = _kernel(ctrl, ctrl) + cfg.regularization * np.eye(n)
    p = np.concatenate([np.ones((n, 1)), ctrl], axis=1)
    lhs = np.zeros((n + 3, n + 3))
    lhs[:n, :n], lhs[:n, n:], lhs[n:, :n] = k, p, p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = vals
    return ctrl, np.linalg.solve(lhs, rhs)


def _eval_tps(ctrl: NDArray, coef: NDArray, pts: NDArray[np.float32], kernel: NDArray[np.float32]
              ) -> NDArray[np.float32]:
    """The spline at `pts`, given the kernel between `pts` and the control points."""
    n = len(ctrl)
    coef32 = coef.astype(np.float32)
    return kernel @ coef32[:n] + coef32[n] + pts @ coef32[n + 1 :]


def _kernel_to(pts: NDArray[np.float32], ctrl: NDArray[np.float32], sq: NDArray[np.float32] | None = None
               ) -> NDArray[np.float32]:
    """`_kernel` from points to the control points, in place on one float32 buffer: the per-frame hot spot of the
    warp, so no broadcast temporaries and OpenCV's vectorised log. `sq`: the points' squared norms, if known."""
    d2 = pts @ (ctrl.T * -2.0)
    d2 += (pts * pts).sum(1, keepdims=True) if sq is None else sq
    d2 += (ctrl * ctrl).sum(1)[None, :]
    np.maximum(d2, 1e-12, out=d2)
    log = cv2.log(d2)
    return cv2.multiply(d2, log, dst=log, scale=0.5)


def smoothstep(t: NDArray) -> NDArray:
    """0 below 0, 1 above 1, a smooth S between: the soft edges of the head outline and the crop feather."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def fit_head_motion(src: NDArray, dst: NDArray) -> Similarity:
    """The rigid head motion between two point sets: rotation and shift as a least-squares similarity, scale from
    the axis that shrinks least. A turn (yaw) narrows the face without the head getting smaller, so an averaged
    scale would shrink hair and outline on every turn; the narrowing is the spline's job."""
    a, b = np.asarray(src, np.float64)[:, :2], np.asarray(dst, np.float64)[:, :2]
    sim = fit_similarity(a, b)
    ac, bc = a - a.mean(0), (b - b.mean(0)) @ sim.rotation  # b rotated back into a's axes
    spread = np.sqrt((ac**2).mean(0)) + 1e-12
    scale = float(np.max(np.sqrt((bc**2).mean(0)) / spread))
    return Similarity(scale, sim.rotation, b.mean(0) - scale * sim.rotation @ a.mean(0))


@dataclass(frozen=True, slots=True)
class HeadField:
    """One frame's motion: a backward displacement field over the warped region (G×G×2, cell-centred, in
    normalised face-crop units: the region spans ±region_scale), and whether the head motion had to be clamped."""

    displacement: NDArray[np.float32]
    clamped: bool


class HeadWarp:
    """The analytic warp of one avatar, head first: a rigid similarity moves the whole head (face, hair, outline)
    inside an outline fitted once to the avatar (its segmented head and hair above the neck, where the person's
    segmentation is known; the face oval's soft outline below the chin, and everywhere without it), the spline adds
    the expression on top, and beyond the outline the background stays put. Built once per avatar; called once per
    frame.

    Coordinates are the normalised face crop's ([-1, 1] across the crop); the region it warps is larger than the
    crop (`region_scale`), so hair and shoulders beyond the crop can move with the head without a seam.
    """

    def __init__(self, source: NDArray, size: int, config: WarpConfig | None = None,
                 person: NDArray[np.float32] | None = None) -> None:
        """`person`: the avatar's person alpha at the n×n cell centres over the warped region, when known
        (engine.render.FullResRenderer.person_support); with it the head holds all of its hair, however far that
        reaches beyond the face oval."""
        self.config = cfg = config or WarpConfig()
        self.size = size
        self.src = to_normalized(np.asarray(source)[:, :2], size).astype(np.float64)
        self.extent = cfg.region_scale
        self.cells = max(2, round(cfg.grid_size * 1.25))  # 80 cells: the crop gets 50 of them across
        self.points = (_grid_points(self.cells) * self.extent).astype(np.float32)
        oval = self.src[list(FACE_OVAL)]
        lo, hi = oval.min(0), oval.max(0)
        self._centre = ((lo + hi) / 2 - np.array([0.0, cfg.head_lift * (hi - lo)[1]])).astype(np.float32)
        self._axes = ((hi - lo) / 2 * cfg.head_scale).astype(np.float32)
        self._rigid = np.array(RIGID)
        # with the person's segmentation the head is what the segmentation shows above the neck, held whole
        support = None if person is None else head_support(person, self.src, self.extent)
        self._support = self._here = None
        if support is not None:
            distance, above = support
            self._support = self._ellipse_below((distance <= cfg.hair_reach).astype(np.float32), above)
            # Where the avatar's head was, and a margin around it, the field moves with the head too, whatever the
            # head does: where it moved away from, its rigid source lies beyond the head, so the still background
            # (its plate, engine.background) shows there, not the hair left standing. The margin keeps the one cell
            # where the field turns from moving to still away from the hair: a pixel there samples between where
            # the head was and where it is, which on a large move cuts through the hair and drags a line of it out.
            here = (distance <= HEAD_MARGIN).astype(np.float32) * above[:, None]
            self._here = self._sample(here, self.points)
        fx = _region_coords(size, self.extent, self.cells)
        self._crop_maps = (np.ascontiguousarray(np.broadcast_to(fx[None, :], (size, size))),
                           np.ascontiguousarray(np.broadcast_to(fx[:, None], (size, size))))

    def head_weight(self, points: NDArray[np.float32]) -> NDArray[np.float32]:
        """1 inside the avatar's head outline, smoothly 0 beyond its soft edge (points in the avatar's frame)."""
        if self._support is not None:
            return self._sample(self._support, points)
        return self._ellipse(points)

    def _ellipse(self, points: NDArray[np.float32]) -> NDArray[np.float32]:
        rho = np.sqrt((((points - self._centre) / self._axes) ** 2).sum(1, keepdims=True))
        return (1.0 - smoothstep((rho - 1.0) / self.config.head_falloff)).astype(np.float32)

    def _ellipse_below(self, head: NDArray[np.float32], above: NDArray[np.float32]) -> NDArray[np.float32]:
        """The head's support map: the segmented head above the neck, the face oval's soft outline below the chin,
        where the neck stretches between the moving head and the still shoulders."""
        n = len(head)
        ellipse = self._ellipse((_grid_points(n) * self.extent).astype(np.float32)).reshape(n, n)
        return (above[:, None] * head + (1.0 - above[:, None]) * ellipse).astype(np.float32)

    def _sample(self, grid: NDArray[np.float32], points: NDArray[np.float32]) -> NDArray[np.float32]:
        """A map laid over the region (n×n cell centres over ±extent) at `points`, 0 beyond it; N×1."""
        n = len(grid)
        at = to_cells(points, n, self.extent).reshape(-1, 1, 2)
        return cv2.remap(grid, at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
                         ).reshape(-1, 1)

    def _clamp(self, motion: Similarity) -> tuple[Similarity, bool]:
        cfg = self.config
        angle = motion.angle
        limit = np.deg2rad(cfg.max_rotation_deg)
        scale = float(np.clip(motion.scale, 1.0 / cfg.max_scale, cfg.max_scale))
        centre = self.src[self._rigid].mean(0)
        shift = motion.apply(centre) - centre
        most = cfg.max_shift * 2.0  # the crop is 2 units across
        norm = float(np.linalg.norm(shift))
        clamped = abs(angle) > limit or scale != motion.scale or norm > most
        if not clamped:
            return motion, False
        angle = float(np.clip(angle, -limit, limit))
        shift = shift * min(1.0, most / max(norm, 1e-12))
        rot = rotation(angle)
        return Similarity(scale, rot, centre + shift - scale * rot @ centre), True

    def __call__(self, target: NDArray) -> HeadField:
        """The field that moves the avatar's landmarks to `target` (crop pixels, N×2 or N×3)."""
        dst = to_normalized(np.asarray(target)[:, :2], self.size).astype(np.float64)
        motion, clamped = self._clamp(fit_head_motion(self.src[self._rigid], dst[self._rigid]))
        back = motion.inverse()
        ctrl, coef = _solve_tps(self.src[_SPLINE], back.apply(dst[_SPLINE]), self.config)
        pts = self.points
        rigid_back = back.apply(pts).astype(np.float32)  # each output point, carried back with the head
        w = self.head_weight(rigid_back)
        if self._here is not None:
            np.maximum(w, self._here, out=w)
        inside = w[:, 0] > 0  # beyond the outline's soft edge the background does not move: no spline needed there
        y = np.ascontiguousarray(rigid_back[inside])
        displacement = np.zeros_like(pts)
        displacement[inside] = w[inside] * (_eval_tps(ctrl, coef, y, _kernel_to(y, ctrl.astype(np.float32)))
                                            - pts[inside])
        return HeadField(displacement.reshape(self.cells, self.cells, 2), clamped)

    def crop_grid(self, field: HeadField) -> NDArray[np.float32]:
        """The field over the face crop as a size×size×2 sampling grid (the network's input, the crop view)."""
        d = cv2.remap(field.displacement, *self._crop_maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return d + identity_grid(self.size)


def head_support(person: NDArray[np.float32], source: NDArray, extent: float
                 ) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """Where the head's rigid motion carries the avatar: the person above the chin and joined to the face, hair and
    head covering however far they reach, as each cell's distance from it (normalised crop units); and per row, how
    far above the neck it is (1 down to the jaw, 0 from the chin on). None when the face is not in `person`.

    The face oval's outline alone ends inside big hair, and its soft edge stretched the hair outward as the head
    turned: a smear beside the head. The head is held whole instead, with a hard edge: beyond it the background
    stays still (the person layer shows it as it is), and a soft edge there would blend each pixel's source between
    where the head was and where it is, a chord that cuts through the hair on a large move and drags a spike of it
    out. `person`: alpha (0–1) at the n×n cell centres over ±`extent`; `source`: the avatar's landmarks, normalised."""
    n = len(person)
    c = cell_centres(n) * extent  # normalised crop units
    oval = np.asarray(source)[list(FACE_OVAL), :2]
    chin, top = float(oval[:, 1].max()), float(oval[:, 1].min())
    jaw = 0.25 * (chin - top)
    above = (1.0 - smoothstep((c - (chin - jaw)) / jaw)).astype(np.float32)
    region = ((person > 0.05) & (above[:, None] > 0)).astype(np.uint8)
    count, labels = cv2.connectedComponents(region, connectivity=8)
    centre = np.clip(np.round(to_cells(oval.mean(0), n, extent)).astype(int), 0, n - 1)
    label = labels[centre[1], centre[0]]
    if count < 2 or label == 0:
        return None
    distance = cv2.distanceTransform((labels != label).astype(np.uint8), cv2.DIST_L2, 5) * np.float32(2 * extent / n)
    return distance, above


def _region_coords(size: int, extent: float, cells: int) -> NDArray[np.float32]:
    """Field-cell coordinates (cell centres at integers) of the crop's pixel centres along one axis."""
    c = (2 * np.arange(size, dtype=np.float64) + 1) / size - 1  # normalised crop coordinates
    return ((c + extent) / (2 * extent) * cells - 0.5).astype(np.float32)
