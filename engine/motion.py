"""Motion transfer from a driving face to the avatar's landmarks.

Relative mode (as in FOMM's relative mode, but on landmarks): the avatar keeps its own face shape; it takes the
driving face's *change* from a reference frame. The change is split into a rigid part (in-plane rotation, scale,
translation, fitted on points that barely move with expression) and a non-rigid part (blinks, mouth, brows, and the
apparent shifts of out-of-plane yaw/pitch), both mapped into the avatar's frame by the similarity that takes the
reference face onto the avatar's face, so that a small face drives a large one correctly.

Absolute mode: the avatar takes the driving face's shape too (the reference only places it on the avatar).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import MotionConfig
from reenact.engine.expression import FaceFrames, dead_zone, face_down, set_openings, signed_dead_zone
from reenact.engine.landmarks import (
    IRISES,
    LEFT_EYE_LID_PAIRS,
    LIP_PAIRS,
    RIGHT_EYE_LID_PAIRS,
    RIGID,
    eye_opening,
    face_size,
    head_roll,
    head_yaw,
    mouth_opening,
)


@dataclass(frozen=True, slots=True)
class Similarity:
    """x ↦ scale · R · x + t, in 2-D."""

    scale: float
    rotation: NDArray[np.float64]  # 2×2
    translation: NDArray[np.float64]  # 2

    @property
    def linear(self) -> NDArray[np.float64]:
        return self.scale * self.rotation

    def apply(self, xy: NDArray) -> NDArray[np.float64]:
        return np.asarray(xy, dtype=np.float64) @ self.linear.T + self.translation

    def inverse(self) -> Similarity:
        r_inv = self.rotation.T
        return Similarity(1.0 / self.scale, r_inv, -(r_inv @ self.translation) / self.scale)

    def compose(self, inner: Similarity) -> Similarity:
        """self ∘ inner."""
        return Similarity(self.scale * inner.scale, self.rotation @ inner.rotation, self.apply(inner.translation))

    @property
    def angle(self) -> float:
        return float(np.arctan2(self.rotation[1, 0], self.rotation[0, 0]))


def rotation(angle: float) -> NDArray[np.float64]:
    """The 2×2 rotation by `angle` radians (counter-clockwise in x-right, y-up axes)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def fit_similarity(src: NDArray, dst: NDArray) -> Similarity:
    """Least-squares similarity taking src points onto dst points (Umeyama 1991), no reflection."""
    a = np.asarray(src, dtype=np.float64)[:, :2]
    b = np.asarray(dst, dtype=np.float64)[:, :2]
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ac, bc = a - ma, b - mb
    cov = bc.T @ ac / len(a)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, d])
    rot = u @ fix @ vt
    var = (ac**2).sum() / len(a)
    scale = float((s * np.diag(fix)).sum() / var) if var > 0 else 1.0
    return Similarity(scale, rot, mb - scale * rot @ ma)


_RIGID = np.array(RIGID)


class MotionTransfer:
    """Turns driving landmarks into target landmarks for the avatar, frame by frame.

    The reference is the first driving frame seen, until `calibrate` sets another (the app's "X" key).
    """

    def __init__(self, source: NDArray, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self.source = np.asarray(source, dtype=np.float64)[:, :2].copy()
        self._reference: NDArray[np.float64] | None = None
        self._ref_to_source: Similarity | None = None

    @property
    def reference(self) -> NDArray[np.float64] | None:
        return None if self._reference is None else self._reference.copy()

    def calibrate(self, driving: NDArray) -> None:
        """Make this driving face the neutral pose: from now on the avatar moves by the change from it."""
        ref = np.asarray(driving, dtype=np.float64)[:, :2].copy()
        self._reference = ref
        self._ref_to_source = fit_similarity(ref[_RIGID], self.source[_RIGID])

    def reset(self) -> None:
        self._reference = self._ref_to_source = None

    def __call__(self, driving: NDArray) -> NDArray[np.float32]:
        """Target landmarks (N×2, avatar crop pixels) for one driving frame's landmarks."""
        drv = np.asarray(driving, dtype=np.float64)[:, :2]
        if self._reference is None:
            self.calibrate(drv)
        assert self._reference is not None and self._ref_to_source is not None
        to_src = self._ref_to_source
        cfg = self.config
        if cfg.mode == "absolute":
            return to_src.apply(drv).astype(np.float32)

        # Rigid head motion of the driving face since the reference, and the expression left after removing it.
        rigid = fit_similarity(self._reference[_RIGID], drv[_RIGID])
        aligned = rigid.inverse().apply(drv)
        expression = aligned - self._reference
        if cfg.dead_zone > 0:  # a still driver's landmark jitter must not move the avatar's pixels at all
            rigid, expression = self._dead_zone(rigid, expression)
        target = self.source + cfg.expression_gain * (expression @ to_src.linear.T)
        if cfg.openings and len(target) > max(IRISES[1]):
            frames = FaceFrames(aligned, self._reference, self.source, to_src.scale)
            target = set_openings(target, frames, cfg.dead_zone, cfg.expression_gain)

        # The same rigid motion, expressed in the avatar's frame: S ∘ T ∘ S⁻¹.
        if cfg.rotation:
            rot, shift = rigid.rotation, rigid.translation
        else:  # keep the translation of the face centre, not of the origin
            centre = self._reference[_RIGID].mean(axis=0)
            rot, shift = np.eye(2), rigid.apply(centre) - rigid.scale * centre
        moved = Similarity(rigid.scale, rot, shift * cfg.translation_gain)
        in_source = to_src.compose(moved).compose(to_src.inverse())
        return uncross(in_source.apply(target)).astype(np.float32)


    def _dead_zone(self, rigid: Similarity, expression: NDArray[np.float64]) -> tuple[Similarity, NDArray[np.float64]]:
        """Motion smaller than the tracker's jitter shrunk to nothing, larger motion given back as it grows
        (`dead_zone`: continuous, so a face starting to move does not jump)."""
        assert self._reference is not None
        size = face_size(self._reference)
        t = self.config.dead_zone * size  # pixels of the driving frame
        norm = np.linalg.norm(expression, axis=1, keepdims=True)
        expression = expression * (dead_zone(norm, t) / np.maximum(norm, 1e-12))
        centre = self._reference[_RIGID].mean(axis=0)
        shift = rigid.apply(centre) - centre
        length = float(np.linalg.norm(shift))
        shift = shift * float(dead_zone(length, t)) / max(length, 1e-12)
        angle = float(signed_dead_zone(rigid.angle, t / size))  # t/size radians at the rim
        log_scale = float(signed_dead_zone(np.log(rigid.scale), t / size))
        scale = float(np.exp(log_scale))
        rot = rotation(angle)
        return Similarity(scale, rot, centre + shift - scale * rot @ centre), expression


_UPPER = np.array([u for u, _ in LIP_PAIRS + RIGHT_EYE_LID_PAIRS + LEFT_EYE_LID_PAIRS])
_LOWER = np.array([d for _, d in LIP_PAIRS + RIGHT_EYE_LID_PAIRS + LEFT_EYE_LID_PAIRS])


def uncross(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Keep lower lips and lids below upper ones: a driving face that closes more than it did in the reference
    frame would otherwise push the avatar's lips or lids through each other."""
    down = face_down(points)
    gap = (points[_LOWER] - points[_UPPER]) @ down
    crossed = gap < 0
    if crossed.any():
        points = points.copy()
        shift = (gap[crossed] / 2)[:, None] * down
        points[_UPPER[crossed]] += shift
        points[_LOWER[crossed]] -= shift
    return points


def closest_expression(candidates: list[NDArray], avatar: NDArray) -> int:
    """Index of the driving face whose openness (mouth, eyes), head turn and tilt best match the avatar's: the
    natural reference pose. Matching the whole shape would pair a smiling avatar with a laughing driver, and every
    relaxed driving frame would then make the avatar frown. The tilt counts because the avatar takes the driver's
    rotation since that frame: a reference with his head tilted 14° (franck's frame 4174) kept an upright portrait
    tilted by about 10° for the whole clip, as he mostly holds his head straighter."""
    if not candidates:
        raise ValueError("no candidate faces")
    target = expression(avatar)
    return int(np.argmin([expression_distance(c, target) for c in candidates]))


YAW_WEIGHT = 0.3  # per unit of the yaw proxy (0.1 ≈ 10° of turn): 0.03
ROLL_WEIGHT = 0.2  # per radian of tilt (10°: 0.035), a little more than a mouth opened by 3 % of the face size


def expression(points: NDArray) -> NDArray[np.float64]:
    """What closest_expression compares: mouth and eye openness, and the head's turn and tilt (weighted)."""
    return np.array([mouth_opening(points), eye_opening(points), YAW_WEIGHT * head_yaw(points),
                     ROLL_WEIGHT * head_roll(points)])


def expression_distance(candidate: NDArray, target: NDArray[np.float64]) -> float:
    """How far a driving face is from the avatar's `expression` (closest_expression's measure, one face at a
    time)."""
    return float(np.abs(expression(candidate) - target).sum())
