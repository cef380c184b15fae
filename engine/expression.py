"""Mouth, lids and gaze of the transferred face: how far they open, not only how much they changed.

Relative motion adds the driver's change since the reference frame to the avatar's own face. For the mouth and the
lids that is wrong at the extremes: an avatar photographed laughing never closes its lips when the driver closes
his (he cannot close more than in his reference), and an avatar with wider eyes than the driver's reference keeps
a slit open when he blinks. So the openings are set directly:
- mouth: the inner-lip gap is the driver's own gap in the avatar's scale (closed is closed, open is as open);
- lids: the avatar's own gap times the driver's openness ratio to his reference (a blink closes fully, a wide
  look opens proportionally, an avatar with small eyes keeps them small);
- gaze: the iris moves inside the avatar's eye by the driver's iris shift, measured against his eye corners.
A small dead zone keeps a still driver's landmark jitter from touching the avatar's face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reenact.engine.landmarks import (
    EYE_OUTER_CORNERS,
    IRISES,
    LEFT_EYE_CORNERS,
    LEFT_EYE_RING,
    MOUTH_INNER_RING,
    MOUTH_OUTER_RING,
    RIGHT_EYE_CORNERS,
    RIGHT_EYE_RING,
    face_size,
    ring_pairs,
)

_INNER = np.array(ring_pairs(MOUTH_INNER_RING))  # 9 × (upper, lower)
_OUTER = np.array(ring_pairs(MOUTH_OUTER_RING))  # the same columns on the outer lip contour
_EYES = tuple(
    (np.array(ring_pairs(ring)), np.array(corners), np.array(iris))
    for ring, corners, iris in ((RIGHT_EYE_RING, RIGHT_EYE_CORNERS, IRISES[0]), (LEFT_EYE_RING, LEFT_EYE_CORNERS, IRISES[1]))
)
LOWER_LIP_SHARE = 0.6  # a mouth opens mostly by the jaw: the lower lip takes this share of a gap change
UPPER_LID_SHARE = 0.8  # a blink is mostly the upper lid
MAX_EYE_RATIO = 1.8  # eyes open at most this much wider than the avatar's own
MIN_REFERENCE_EYE = 0.03  # a reference lid gap (share of face size) below this counts as closed, not as the scale
CLOSED_EYE = 0.01  # MediaPipe's lids of a closed eye stay this far apart (share of face size; franck: 1st percentile)


@dataclass(frozen=True, slots=True)
class FaceFrames:
    """One driving frame, its reference and the avatar, each in its own frame, and what maps driver units to the
    avatar's: the driver aligned to his reference (rigid head motion removed)."""

    driving: NDArray[np.float64]
    reference: NDArray[np.float64]
    avatar: NDArray[np.float64]
    scale: float  # driver pixels → avatar pixels


def _axes(a: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Length of the segment a→b, its unit direction and the unit normal that points down (image y grows down)."""
    width = float(np.linalg.norm(b - a)) + 1e-12
    u = (b - a) / width
    return width, u, np.array([-u[1], u[0]])


def face_down(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """The face's downward unit vector (across the eye line): the direction lips and lids open along."""
    return _axes(points[EYE_OUTER_CORNERS[0]], points[EYE_OUTER_CORNERS[1]])[2]


def _gaps(points: NDArray[np.float64], pairs: NDArray, down: NDArray[np.float64]) -> NDArray[np.float64]:
    return (points[pairs[:, 1]] - points[pairs[:, 0]]) @ down


def dead_zone(magnitude: NDArray[np.float64] | float, threshold: float) -> NDArray[np.float64]:
    """A motion's magnitude (≥ 0) with the tracker's jitter taken out: nothing up to `threshold`, then a
    continuous rise that gives back the threshold as the motion grows (by 3× the threshold 86 % of it is back).
    Plain soft thresholding would shrink every real motion by the whole threshold: lips that never open or
    close quite as far as the driver's."""
    m = np.asarray(magnitude, np.float64)
    t = max(float(threshold), 1e-12)
    return np.where(m > t, m - t * np.exp(-(m - t) / t), 0.0)


def signed_dead_zone(value: NDArray[np.float64] | float, threshold: float) -> NDArray[np.float64]:
    """A signed value through the dead zone (its magnitude as `dead_zone` says, its sign kept)."""
    return np.sign(value) * dead_zone(np.abs(value), threshold)


def _closing(driven: NDArray[np.float64], own: NDArray[np.float64], jitter: float) -> NDArray[np.float64]:
    """Closed is closed: the dead zone would leave a slit of its own width when the driver shuts a mouth or an eye
    that is open in the avatar; this factor takes the rest away as the driver's gap falls to nothing. An avatar's
    own gap within the dead zone (lips at rest) is left alone, so a still driver changes nothing."""
    return np.where(own > 2 * jitter, np.clip(driven / (2 * jitter + 1e-9), 0.0, 1.0), 1.0)


def set_openings(target: NDArray[np.float64], f: FaceFrames, dead_zone: float, gain: float = 1.0) -> NDArray[np.float64]:
    """`target` (the avatar's landmarks after relative transfer, before the head's rigid motion) with its mouth,
    lids and irises set from the driver as the module says."""
    out = target.copy()
    down = face_down(f.avatar)
    jitter = dead_zone * face_size(f.avatar)
    _set_mouth(out, f, down, jitter, gain)
    for pairs, corners, iris in _EYES:
        _set_lids(out, f, pairs, down, jitter)
        _set_gaze(out, f, corners, iris, jitter)
    return out


def _move_pairs(out: NDArray[np.float64], upper: NDArray, lower: NDArray, delta: NDArray[np.float64],
                down: NDArray[np.float64], lower_share: float) -> None:
    out[upper] -= np.outer(delta * (1.0 - lower_share), down)
    out[lower] += np.outer(delta * lower_share, down)


def _set_mouth(out: NDArray[np.float64], f: FaceFrames, down: NDArray[np.float64], jitter: float, gain: float) -> None:
    driven = np.maximum(0.0, _gaps(f.driving, _INNER, face_down(f.driving))) * f.scale * gain
    own = _gaps(f.avatar, _INNER, down)
    wanted = np.maximum(0.0, own + signed_dead_zone(driven - own, jitter))
    wanted *= _closing(driven, own, jitter)
    delta = wanted - _gaps(out, _INNER, down)
    # Each lip moves as a whole (outer contour with the inner one), so lips keep their thickness.
    for upper, lower in ((_INNER[:, 0], _INNER[:, 1]), (_OUTER[:, 0], _OUTER[:, 1])):
        _move_pairs(out, upper, lower, delta, down, LOWER_LIP_SHARE)


def _set_lids(out: NDArray[np.float64], f: FaceFrames, pairs: NDArray, down: NDArray[np.float64], jitter: float
              ) -> None:
    closed = CLOSED_EYE * face_size(f.reference)
    drv = float(_gaps(f.driving, pairs, face_down(f.driving)).mean()) - closed
    ref = float(_gaps(f.reference, pairs, face_down(f.reference)).mean()) - closed
    ratio = float(np.clip(drv / max(ref, MIN_REFERENCE_EYE * face_size(f.reference)), 0.0, MAX_EYE_RATIO))
    own = np.maximum(0.0, _gaps(f.avatar, pairs, down))
    wanted = np.maximum(0.0, own + signed_dead_zone(own * ratio - own, jitter))
    wanted *= _closing(own * ratio, own, jitter)
    _move_pairs(out, pairs[:, 0], pairs[:, 1], wanted - _gaps(out, pairs, down), down, 1.0 - UPPER_LID_SHARE)


def _iris_offset(points: NDArray[np.float64], corners: NDArray, iris: NDArray) -> NDArray[np.float64]:
    """The iris centre relative to the eye corners' midpoint, in eye widths along and across the corner line."""
    a, b = points[corners[0]], points[corners[1]]
    width, u, v = _axes(a, b)
    rel = points[iris[0]] - (a + b) / 2
    return np.array([rel @ u, rel @ v]) / width


def _set_gaze(out: NDArray[np.float64], f: FaceFrames, corners: NDArray, iris: NDArray, jitter: float) -> None:
    shift = _iris_offset(f.driving, corners, iris) - _iris_offset(f.reference, corners, iris)
    width = float(np.linalg.norm(f.avatar[corners[1]] - f.avatar[corners[0]]))
    shift = signed_dead_zone(shift, jitter / max(width, 1e-6))
    wanted = _iris_offset(f.avatar, corners, iris) + shift
    a, b = out[corners[0]], out[corners[1]]
    width, u, v = _axes(a, b)
    centre = (a + b) / 2 + width * (wanted[0] * u + wanted[1] * v)
    out[iris] += centre - out[iris[0]]
