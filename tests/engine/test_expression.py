"""Mouth, lids and gaze set from the driver (engine.expression) through MotionTransfer, on real landmarks: the
astronaut (photographed smiling with her teeth showing) and the Mona Lisa (mouth closed), found by MediaPipe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reenact.engine.config import MotionConfig
from reenact.engine.expression import CLOSED_EYE, MAX_EYE_RATIO
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
from reenact.engine.motion import MotionTransfer

LIPS = np.array(ring_pairs(MOUTH_INNER_RING))  # (upper, lower) across the opening
LIP_OUTER = np.array(ring_pairs(MOUTH_OUTER_RING))
EYES = {"right": (np.array(ring_pairs(RIGHT_EYE_RING)), np.array(RIGHT_EYE_CORNERS), np.array(IRISES[0])),
        "left": (np.array(ring_pairs(LEFT_EYE_RING)), np.array(LEFT_EYE_CORNERS), np.array(IRISES[1]))}
DEAD_ZONE = MotionConfig().dead_zone


@pytest.fixture(scope="module")
def faces(static_tracker, astronaut, mona_lisa) -> dict[str, np.ndarray]:
    found = {"astronaut": static_tracker.detect(astronaut), "mona_lisa": static_tracker.detect(mona_lisa)}
    assert all(v is not None for v in found.values())
    return {k: v[:, :2].astype(np.float64) for k, v in found.items()}


def down(points: np.ndarray) -> np.ndarray:
    """The face's downward unit vector, across the line of the outer eye corners."""
    a, b = points[EYE_OUTER_CORNERS[0]], points[EYE_OUTER_CORNERS[1]]
    u = (b - a) / np.linalg.norm(b - a)
    return np.array([-u[1], u[0]])


def gaps(points: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per (upper, lower) pair, how far the lower point lies below the upper one (px, across the face)."""
    return (points[pairs[:, 1]] - points[pairs[:, 0]]) @ down(points)


def iris_offset(points: np.ndarray, corners: np.ndarray, iris: np.ndarray) -> np.ndarray:
    """The iris centre from the corners' midpoint, in eye widths along the corner line and across it."""
    a, b = points[corners[0]], points[corners[1]]
    width = np.linalg.norm(b - a)
    u = (b - a) / width
    v = np.array([-u[1], u[0]])
    rel = points[iris[0]] - (a + b) / 2
    return np.array([rel @ u, rel @ v]) / width


def transfer(avatar: np.ndarray, reference: np.ndarray, driving: np.ndarray, **config) -> np.ndarray:
    motion = MotionTransfer(avatar, replace(MotionConfig(), **config))
    motion.calibrate(reference)
    return motion(driving).astype(np.float64)


def with_gaps_scaled(points: np.ndarray, pairs: np.ndarray, factor: float) -> np.ndarray:
    """`points` with each pair moved apart (or together) about its midpoint: lids or lips opened by `factor`."""
    out = points.copy()
    mid = (points[pairs[:, 0]] + points[pairs[:, 1]]) / 2
    out[pairs[:, 0]] = mid + factor * (points[pairs[:, 0]] - mid)
    out[pairs[:, 1]] = mid + factor * (points[pairs[:, 1]] - mid)
    return out


def test_an_open_mouth_driven_by_a_closed_one_closes(faces):
    """Relative motion alone keeps the astronaut's teeth showing: the driver (the Mona Lisa, as still as in her
    reference) never closes more than in his reference. With the openings set, her lips meet."""
    avatar, driver = faces["astronaut"], faces["mona_lisa"]
    own = gaps(avatar, LIPS)
    assert own.max() > 0.08 * face_size(avatar) and gaps(driver, LIPS).max() < 0.005 * face_size(driver)
    relative = transfer(avatar, driver, driver, openings=False)
    np.testing.assert_allclose(gaps(relative, LIPS), own, atol=1e-3)  # the test's premise: still open
    target = transfer(avatar, driver, driver)
    closed = gaps(target, LIPS)
    assert np.all(closed >= -1e-6) and closed.max() < 0.01 * face_size(avatar), closed
    # Each lip moves as a whole: its thickness (outer contour to inner) is the avatar's own.
    np.testing.assert_allclose(((target[LIP_OUTER] - target[LIPS]) @ down(target)),
                               ((avatar[LIP_OUTER] - avatar[LIPS]) @ down(avatar)), atol=1e-3)


def test_a_closed_mouth_driven_by_an_open_one_opens_as_far_in_its_own_scale(faces):
    avatar, driver = faces["mona_lisa"], faces["astronaut"]
    target = transfer(avatar, driver, driver)
    scale = face_size(avatar) / face_size(driver)  # the transfer's scale, within the rigid fit's accuracy
    opened = gaps(target, LIPS)
    wanted = gaps(driver, LIPS) * scale
    jitter = DEAD_ZONE * face_size(avatar)
    assert np.all(np.abs(opened - wanted) < 0.08 * wanted + jitter), (opened, wanted)
    assert opened.max() > 10 * max(gaps(avatar, LIPS).max(), 0.5)


def with_gaps_set(points: np.ndarray, pairs: np.ndarray, gap: float) -> np.ndarray:
    """`points` with each pair moved about its midpoint to lie `gap` px apart across the face."""
    out = points.copy()
    mid = (points[pairs[:, 0]] + points[pairs[:, 1]]) / 2
    d = down(points)
    out[pairs[:, 0]] = mid - gap / 2 * d
    out[pairs[:, 1]] = mid + gap / 2 * d
    return out


@pytest.mark.parametrize("left_open", [0.0, 0.01], ids=["lids-on-each-other", "lids-as-the-tracker-sees-a-blink"])
def test_a_driver_whose_lids_close_closes_the_avatars(faces, left_open):
    """Lid points moved onto each other; or left 1% of the face's size apart, which is how MediaPipe's lids of
    a closed eye stay: both close the avatar's eyes."""
    avatar, driver = faces["astronaut"], faces["mona_lisa"]
    blink = driver.copy()
    for pairs, _, _ in EYES.values():
        blink = with_gaps_set(blink, pairs, left_open * face_size(driver))
    target = transfer(avatar, driver, blink)
    for side, (pairs, _, _) in EYES.items():
        own, now = gaps(avatar, pairs), gaps(target, pairs)
        assert own.max() > 0.05 * face_size(avatar), side
        assert np.all(now >= -1e-3) and now.max() < 0.01 * face_size(avatar), (side, now)


def test_a_driver_who_opens_his_eyes_wider_opens_the_avatars_by_his_ratio_capped(faces):
    avatar, driver = faces["astronaut"], faces["mona_lisa"]
    jitter = DEAD_ZONE * face_size(avatar)
    closed = CLOSED_EYE * face_size(driver)
    for factor in (1.3, 4.0):
        wide = driver.copy()
        for pairs, _, _ in EYES.values():
            wide = with_gaps_scaled(wide, pairs, factor)
        target = transfer(avatar, driver, wide)
        for side, (pairs, _, _) in EYES.items():
            own, now, ref = gaps(avatar, pairs), gaps(target, pairs), gaps(driver, pairs).mean()
            ratio = min((factor * ref - closed) / (ref - closed), MAX_EYE_RATIO)
            assert np.all(now > own), (side, factor)
            assert np.all(now <= own * MAX_EYE_RATIO + 1e-3), (side, factor, now / own)
            np.testing.assert_allclose(now, own * ratio, atol=jitter + 1e-3, err_msg=f"{side} ×{factor}")
        if factor > 2:  # far wider than the cap allows: exactly the cap, less the dead zone
            assert ratio == MAX_EYE_RATIO


@pytest.mark.parametrize("dead_zone", [0.0, DEAD_ZONE])
def test_the_drivers_iris_shift_moves_the_avatars_by_as_many_eye_widths(faces, dead_zone):
    avatar, driver = faces["astronaut"], faces["mona_lisa"]
    shift = {"right": np.array([0.12, 0.05]), "left": np.array([-0.09, -0.04])}  # eye widths: along, across
    looking = driver.copy()
    for side, (_, corners, iris) in EYES.items():
        a, b = driver[corners[0]], driver[corners[1]]
        u = (b - a) / np.linalg.norm(b - a)
        v = np.array([-u[1], u[0]])
        looking[iris] += np.linalg.norm(b - a) * (shift[side][0] * u + shift[side][1] * v)
    target = transfer(avatar, driver, looking, dead_zone=dead_zone)
    for side, (_, corners, iris) in EYES.items():
        moved = iris_offset(target, corners, iris) - iris_offset(avatar, corners, iris)
        width = np.linalg.norm(avatar[corners[1]] - avatar[corners[0]])
        slack = dead_zone * face_size(avatar) / width  # the dead zone, in eye widths
        np.testing.assert_allclose(moved, shift[side], atol=slack + 1e-6, err_msg=side)
        assert np.all(np.sign(moved) == np.sign(shift[side])), side
        # The whole iris moves: its rim keeps its shape around the centre.
        np.testing.assert_allclose(target[iris[1:]] - target[iris[0]], avatar[iris[1:]] - avatar[iris[0]],
                                   atol=1e-3, err_msg=side)


def test_jitter_below_the_dead_zone_changes_nothing(faces):
    """A driver holding still at his reference (here the avatar's own face, so every opening already matches):
    landmark jitter of under half the dead zone per point (so no gap or iris offset moves by a full dead
    zone) leaves every landmark where it is; the same jitter without a dead zone moves them."""
    avatar = faces["astronaut"]
    t = DEAD_ZONE * face_size(avatar)
    motion = MotionTransfer(avatar)
    motion.calibrate(avatar)
    still = motion(avatar).astype(np.float64)
    np.testing.assert_allclose(still, avatar, atol=1e-3)
    loose = MotionTransfer(avatar, MotionConfig(dead_zone=0.0))
    loose.calibrate(avatar)
    moved_without = 0.0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        angle = rng.uniform(0, 2 * np.pi, len(avatar))
        radius = 0.45 * t * np.sqrt(rng.uniform(0, 1, len(avatar)))
        jittered = avatar + np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
        np.testing.assert_allclose(motion(jittered), still, atol=1e-3, err_msg=f"seed {seed}")
        moved_without = max(moved_without, float(np.abs(loose(jittered) - still).max()))
    assert moved_without > 0.2 * t
