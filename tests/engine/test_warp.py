import numpy as np
import pytest

from reenact.engine.config import WarpConfig
from reenact.engine.warp import from_normalized, identity_grid, to_normalized


@pytest.fixture(scope="module")
def face(static_tracker, mona_lisa):
    from reenact.engine.config import CropConfig
    from reenact.engine.face import crop_box, crop_face

    lm = static_tracker.detect(mona_lisa)
    return crop_face(mona_lisa, lm, crop_box(lm, CropConfig()), 256)


def test_same_landmarks_give_the_identity_grid(face):
    from reenact.engine.warp import HeadWarp

    warp = HeadWarp(face.landmarks, 256)
    grid = warp.crop_grid(warp(face.landmarks))
    assert grid.shape == (256, 256, 2) and grid.dtype == np.float32
    np.testing.assert_allclose(grid, identity_grid(256), atol=1e-4)


def test_grid_maps_target_landmarks_back_to_source_landmarks(face):
    from reenact.engine.landmarks import WARP_SUBSET
    from reenact.engine.warp import HeadWarp

    src = face.landmarks[:, :2]
    target = src.copy()
    target[:, 1] += 6 * np.sin(src[:, 0] / 30)  # a smooth non-rigid motion of a few pixels
    warp = HeadWarp(face.landmarks, 256, WarpConfig(grid_size=128))
    grid = warp.crop_grid(warp(target))
    idx = np.array(WARP_SUBSET)
    px = np.clip(np.round(target[idx]).astype(int), 0, 255)
    sampled = from_normalized(grid[px[:, 1], px[:, 0]], 256)
    err = np.linalg.norm(sampled - src[idx], axis=1)
    assert np.median(err) < 1.5
    assert np.median(np.linalg.norm(target[idx] - src[idx], axis=1)) > 3  # the test is not vacuous


def test_normalisation_round_trip():
    pts = np.array([[0.0, 0.0], [128.0, 128.0], [256.0, 256.0]])
    np.testing.assert_allclose(to_normalized(pts, 256), [[-1, -1], [0, 0], [1, 1]])
    np.testing.assert_allclose(from_normalized(to_normalized(pts, 256), 256), pts, atol=1e-4)


def _turned(points: np.ndarray, degrees: float, scale: float = 1.0) -> np.ndarray:
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = points.mean(0)
    return (points - centre) @ rot.T * scale + centre


def test_head_warp_moves_the_head_rigidly_and_leaves_the_far_background(face):
    from reenact.engine.warp import HeadWarp

    warp = HeadWarp(face.landmarks, 256)
    src = face.landmarks[:, :2]
    still = warp(src)
    assert not still.clamped and np.abs(still.displacement).max() == 0
    tilted = warp(_turned(src, 12, 1.1))
    assert not tilted.clamped
    d = tilted.displacement
    corners = np.abs(d[[0, 0, -1, -1], [0, -1, 0, -1]])
    assert corners.max() < 1e-6  # the region's corners: background beyond the head's outline stays put
    centre = d.shape[0] // 2
    assert np.linalg.norm(d[centre, centre]) < np.linalg.norm(d[centre - 12, centre])  # rotation about the face


def test_head_warp_clamps_a_turn_it_cannot_follow(face):
    from reenact.engine.warp import HeadWarp

    warp = HeadWarp(face.landmarks, 256)
    src = face.landmarks[:, :2]
    far = warp(_turned(src, 70))
    assert far.clamped and np.isfinite(far.displacement).all()
    assert warp(_turned(src, 25)).clamped is False
