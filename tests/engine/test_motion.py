import numpy as np
import pytest

from reenact.engine.config import MotionConfig
from reenact.engine.errors import ReenactError
from reenact.engine.landmarks import LEFT_BROW, MOUTH_LIPS, face_size, mouth_opening
from reenact.engine.motion import MotionTransfer, Similarity, closest_expression, fit_similarity

EXACT = MotionConfig(dead_zone=0.0)  # the transfer itself, without the jitter dead zone


def _rot(a: float) -> np.ndarray:
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


@pytest.fixture(scope="module")
def face(static_tracker, mona_lisa) -> np.ndarray:
    return static_tracker.detect(mona_lisa)[:, :2].astype(np.float64)


def test_fit_similarity_recovers_a_known_transform(face):
    truth = Similarity(1.7, _rot(0.3), np.array([12.0, -40.0]))
    est = fit_similarity(face, truth.apply(face))
    assert est.scale == pytest.approx(1.7, rel=1e-6)
    assert est.angle == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(est.apply(face), truth.apply(face), atol=1e-6)
    np.testing.assert_allclose(est.inverse().apply(est.apply(face)), face, atol=1e-6)


def test_reference_pose_leaves_the_avatar_unchanged(face):
    driving = Similarity(0.4, _rot(-0.2), np.array([50.0, 10.0])).apply(face)  # another size and place
    mt = MotionTransfer(face)
    np.testing.assert_allclose(mt(driving), face, atol=1e-3)


def test_relative_mode_transfers_mouth_opening_scaled_to_the_avatar(face):
    small = Similarity(0.5, np.eye(2), np.array([5.0, 5.0])).apply(face)
    mt = MotionTransfer(face, EXACT)
    mt(small)  # reference
    opened = small.copy()
    opened[MOUTH_LIPS[1]] += (0, 0.1 * face_size(small))  # lower lip drops by 10% of the driving face
    out = mt(opened)
    gain = mouth_opening(out) - mouth_opening(face)
    assert gain == pytest.approx(0.1, abs=0.01)
    assert np.abs(out[MOUTH_LIPS[1]] - face[MOUTH_LIPS[1]]).max() == pytest.approx(0.1 * face_size(face), rel=0.05)


def test_relative_mode_transfers_head_rotation(face):
    mt = MotionTransfer(face, EXACT)
    centre = face.mean(0)
    mt(face)
    turned = (face - centre) @ _rot(0.25).T + centre
    out = mt(turned)
    assert fit_similarity(face, out).angle == pytest.approx(0.25, abs=1e-3)
    no_rot = MotionTransfer(face, MotionConfig(rotation=False, dead_zone=0.0))
    no_rot(face)
    assert abs(fit_similarity(face, no_rot(turned)).angle) < 1e-3


def test_jitter_below_the_dead_zone_leaves_the_avatar_exactly_as_it_is(face):
    mt = MotionTransfer(face, MotionConfig(dead_zone=0.01))
    mt(face)
    jitter = np.random.default_rng(0).normal(0, 1, face.shape)
    t = 0.01 * face_size(face)
    jitter *= 0.5 * t / np.linalg.norm(jitter, axis=1, keepdims=True)  # every point moved by half the zone
    np.testing.assert_allclose(mt(face + jitter), face, atol=1e-4)
    opened = face.copy()
    opened[MOUTH_LIPS[1]] += (0, 10 * t)  # a real movement arrives whole: the zone is given back as it grows
    out = mt(opened)
    gap = (out[MOUTH_LIPS[1]] - out[MOUTH_LIPS[0]])[1] - (face[MOUTH_LIPS[1]] - face[MOUTH_LIPS[0]])[1]
    assert gap == pytest.approx(10 * t, rel=0.02)
    slight = face.copy()
    slight[MOUTH_LIPS[1]] += (0, 2 * t)  # and one just past it starts from nothing, without a jump
    out = mt(slight)
    gap = (out[MOUTH_LIPS[1]] - out[MOUTH_LIPS[0]])[1] - (face[MOUTH_LIPS[1]] - face[MOUTH_LIPS[0]])[1]
    assert 0.5 * t < gap < 2 * t


def test_calibrate_resets_the_neutral_pose(face):
    mt = MotionTransfer(face)
    mt(face)
    shifted = face + (0, 0)
    shifted[list(LEFT_BROW)] += (0, -20)  # brows raised (the mouth and lids open as far as the driver's instead)
    assert np.abs(mt(shifted) - face).max() > 5
    mt.calibrate(shifted)
    np.testing.assert_allclose(mt(shifted), face, atol=1e-3)


def test_absolute_mode_takes_the_driving_shape(face):
    mt = MotionTransfer(face, MotionConfig(mode="absolute"))
    mt(face)
    other = face.copy()
    other[MOUTH_LIPS[1]] += (0, 25)
    np.testing.assert_allclose(mt(other)[MOUTH_LIPS[1]], other[MOUTH_LIPS[1]], atol=1e-3)


def test_unknown_mode_is_a_user_error():
    with pytest.raises(ReenactError):
        MotionConfig(mode="sideways")


def test_the_reference_is_a_driving_face_held_as_upright_as_the_avatar(face):
    """The avatar takes the driver's rotation since his reference frame: a reference with his head tilted would keep
    an upright portrait tilted while he holds his head straight. Of his face tilted 14° with her very expression,
    and upright with his mouth a little more open (1 % of the face size), the upright one is the reference."""
    centre = face.mean(0)
    tilted = (face - centre) @ _rot(np.radians(14)).T + centre
    upright = face.copy()
    upright[MOUTH_LIPS[1]] += (0, 0.01 * face_size(face))
    assert mouth_opening(upright) > mouth_opening(tilted) + 0.005
    assert closest_expression([tilted, upright], face) == 1
    assert closest_expression([face, upright], face) == 0  # her own tilt, her own mouth: that one
