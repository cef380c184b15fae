"""Expression shading (engine.shading) on real faces: a fold the driver makes beside his mouth shows on the avatar at
the same place of her face; his light, his camera's noise and a driver at his reference leave her as she is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reenact.engine.driver import Driving
from reenact.engine.landmarks import MOUTH_CORNERS, MOUTH_OUTER_RING, face_size
from reenact.engine.shading import ShadingLayer

STILL = 85  # a bundled clip frame with the driver's face at rest


def _points(tracker, image: np.ndarray) -> np.ndarray:
    found = tracker.detect(image)
    assert found is not None
    return found[:, :2].astype(np.float64) - 0.5  # pixel index coordinates, as the renderer passes them


@pytest.fixture(scope="module")
def faces(mona_lisa, clip_frames, static_tracker):
    """The Mona Lisa and her landmarks, the driver's resting frame and his."""
    return mona_lisa, _points(static_tracker, mona_lisa), clip_frames[STILL], _points(static_tracker, clip_frames[STILL])


def beside_the_mouth(points: np.ndarray, corner: int) -> np.ndarray:
    """A point just outside one mouth corner, where a smile's fold lies: the same place on any face."""
    centre = points[list(MOUTH_OUTER_RING)].mean(0)
    return points[corner] + 0.35 * (points[corner] - centre)


def smiling(points: np.ndarray) -> np.ndarray:
    """A face's landmarks with the mouth corners drawn outwards by 2 % of the face's size: a slight smile."""
    out = points.copy()
    centre = points[list(MOUTH_OUTER_RING)].mean(0)
    for corner in MOUTH_CORNERS:
        away = points[corner] - centre
        out[corner] += 0.02 * face_size(points) * away / np.linalg.norm(away)
    return out


def shaded(faces, now: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """The Mona Lisa with her landmarks at `target` (a slight smile unless given), shaded by the driver's change
    from his resting frame to `now`."""
    image, own, ref, theirs = faces
    region = image.copy()
    target = smiling(own) if target is None else target
    ShadingLayer(image, own).paint(region, target, np.zeros(2), Driving(now, theirs, Driving(ref, theirs)))
    return region


def luminance(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def test_a_driver_at_his_reference_leaves_her_pixels_as_they_are(faces):
    image, _, ref, _ = faces
    np.testing.assert_array_equal(shaded(faces, ref.copy()), image)


def folded(ref: np.ndarray, theirs: np.ndarray, corner: int) -> np.ndarray:
    """The driver's resting frame with a fold beside one mouth corner, 40 % darker at its middle."""
    at = beside_the_mouth(theirs, corner)
    ys, xs = np.mgrid[: ref.shape[0], : ref.shape[1]]
    sigma = 0.03 * face_size(theirs)
    fold = 1.0 - 0.4 * np.exp(-((xs - at[0]) ** 2 + (ys - at[1]) ** 2) / (2 * sigma**2))
    return np.clip(ref * fold[..., None] + 0.5, 0, 255).astype(np.uint8)


def test_a_fold_beside_his_mouth_shows_beside_hers(faces):
    image, own, ref, theirs = faces
    corner, other = MOUTH_CORNERS
    ratio = (luminance(shaded(faces, folded(ref, theirs, corner))) + 1) / (luminance(image) + 1)
    depth = np.clip(1.0 - ratio, 0.0, None)
    ys, xs = np.mgrid[: ratio.shape[0], : ratio.shape[1]]
    centre = np.array([(xs * depth).sum(), (ys * depth).sum()]) / depth.sum()  # where she darkened, on average
    expected = beside_the_mouth(smiling(own), corner)
    size = face_size(own)
    assert np.linalg.norm(centre - expected) < 0.06 * size, (centre, expected)
    assert ratio.min() < 0.9  # a good part of its depth (40 %), on her face
    x, y = np.round(beside_the_mouth(own, other)).astype(int)
    r = int(0.05 * size)
    np.testing.assert_allclose(ratio[y - r : y + r, x - r : x + r], 1.0, atol=0.02)  # the other side: untouched


def test_his_light_and_his_camera_noise_are_not_carried(faces):
    image, _, ref, _ = faces
    dimmer = np.clip(ref * 0.85 + 0.5, 0, 255).astype(np.uint8)  # the room's light, dimmed over his whole face
    noisy = np.clip(ref + np.random.default_rng(0).normal(0, 2.0, ref.shape) + 0.5, 0, 255).astype(np.uint8)
    for now in (dimmer, noisy):
        change = np.abs(shaded(faces, now).astype(np.int32) - image)
        assert change.mean() < 0.1 and change.max() <= 3, (change.mean(), change.max())


def test_an_expression_the_motion_kept_off_her_face_brings_no_shading_either(faces):
    """Her landmarks where they are (the motion's dead zone took the driver's small change): her pixels as they are,
    though his face changed."""
    image, own, ref, theirs = faces
    np.testing.assert_array_equal(shaded(faces, folded(ref, theirs, MOUTH_CORNERS[0]), own), image)


def test_a_fold_of_his_reference_that_her_face_lacks_does_not_lighten_her_skin_when_it_goes(faces):
    """His reference frame smiled a little (the fold beside his mouth corner), hers has no such fold, and he now rests:
    his fold's going lightens nothing of hers beyond what his face shows now, so no bright patch where it was."""
    image, own, ref, theirs = faces
    corner = MOUTH_CORNERS[0]
    region = image.copy()
    ShadingLayer(image, own).paint(region, smiling(own), np.zeros(2),
                                   Driving(ref, theirs, Driving(folded(ref, theirs, corner), theirs)))
    ratio = (luminance(region) + 1) / (luminance(image) + 1)
    x, y = np.round(beside_the_mouth(smiling(own), corner)).astype(int)
    r = int(0.05 * face_size(own))
    lighter = float(ratio[y - r : y + r, x - r : x + r].max())
    assert lighter < 1.05, f"her skin lightened by {lighter - 1:.0%} where his reference's fold was"
