"""The engine end to end on real faces: avatar from assets/, driving frames from the bundled clip."""

import numpy as np
import pytest

from reenact.engine.errors import ReenactError
from reenact.engine.landmarks import head_yaw, mouth_height
from reenact.engine.pipeline import STAGES, Pipeline
from reenact.engine.reference import neutral_reference


def test_prepare_rejects_an_image_without_a_face(no_face_image):
    from reenact.engine.assets import load_image

    with Pipeline() as pipe, pytest.raises(ReenactError, match="coffee.png: no face"):
        pipe.prepare(load_image(no_face_image), no_face_image)


def test_step_before_prepare_is_a_programming_error(clip_frames):
    with Pipeline() as pipe, pytest.raises(RuntimeError):
        pipe.step(clip_frames[0])


def test_step_returns_the_full_avatar_with_timings(mona_lisa, clip_frames):
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        result = pipe.step(clip_frames[0], 0.0)
        assert result.image.shape == mona_lisa.shape and result.crop is None  # the warp renders at full size
        assert result.face_found and result.driving_landmarks is not None
        assert set(result.timings_ms) == set(STAGES) and all(v >= 0 for v in result.timings_ms.values())
        # Far from the face nothing changes: the warp's field falls to zero beyond the head's outline.
        np.testing.assert_array_equal(result.image[-40:], mona_lisa[-40:])
        pipe.set_paste(False)
        crop_view = pipe.step(clip_frames[1], 1 / 24)
        assert crop_view.image.shape == (256, 256, 3) and crop_view.crop is crop_view.image


def test_lost_face_holds_the_last_motion(mona_lisa, clip_frames):
    blank = np.zeros_like(clip_frames[0])
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        pipe.step(clip_frames[0], 0.0)
        held = pipe.step(clip_frames[40], 1.0)
        lost = pipe.step(blank, 1.1)
        assert not lost.face_found and pipe.frames_without_face == 1
        np.testing.assert_array_equal(lost.image, held.image)


def test_calibrate_makes_the_current_face_neutral(mona_lisa, clip_frames):
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        assert not pipe.calibrate(), "nothing to calibrate on before a face is seen"
        pipe.step(clip_frames[0], 0.0)
        first_ref = pipe.reference
        pipe.step(clip_frames[100], 100 / 24)
        assert pipe.calibrate()
        assert not np.allclose(pipe.reference, first_ref)
        # With the current face as reference, the avatar is (nearly) its own still self again.
        still = pipe.step(clip_frames[100], 100 / 24 + 1e-3).image
        assert np.abs(still.astype(int) - mona_lisa).mean() < 1.0


@pytest.fixture(scope="module", params=["warp", "model"])
def backend(request):
    """None for the analytic warp; the shipped weights in PyTorch for the trained model."""
    if request.param == "warp":
        yield None
        return
    from reenact.engine.assets import DEFAULT_WEIGHTS
    from reenact.engine.backends.torch_backend import TorchBackend

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {DEFAULT_WEIGHTS}")
    b = TorchBackend(DEFAULT_WEIGHTS)
    yield b
    b.close()


def test_output_follows_the_driving_mouth_and_yaw(mona_lisa, clip_frames, static_tracker, backend):
    """MediaPipe on the OUTPUT frames: mouth opening and head yaw must follow the driving clip's."""
    with Pipeline(backend=backend) as pipe:
        avatar = pipe.prepare(mona_lisa)
        pipe.set_reference(neutral_reference(clip_frames, avatar.crop.landmarks))
        drive_mouth, out_mouth, drive_yaw, out_yaw = [], [], [], []
        for i, frame in enumerate(clip_frames):
            result = pipe.step(frame, i / 24)
            if i % 2:
                continue
            seen = static_tracker.detect(result.image)
            assert seen is not None, f"no face found in output frame {i}"
            drive_mouth.append(mouth_height(result.driving_landmarks))
            out_mouth.append(mouth_height(seen))
            drive_yaw.append(head_yaw(result.driving_landmarks))
            out_yaw.append(head_yaw(seen))
    assert np.std(drive_mouth) > 0.01 and np.std(drive_yaw) > 0.02, "the clip must actually move"
    assert np.corrcoef(drive_mouth, out_mouth)[0, 1] > 0.4
    assert np.corrcoef(drive_yaw, out_yaw)[0, 1] > 0.6


def test_switching_avatar_keeps_the_reference(mona_lisa, astronaut, clip_frames):
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        pipe.step(clip_frames[0], 0.0)
        ref = pipe.reference
        pipe.prepare(astronaut)
        np.testing.assert_array_equal(pipe.reference, ref)
        assert pipe.step(clip_frames[1], 1 / 24).image.shape == astronaut.shape
