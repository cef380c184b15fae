import numpy as np
import pytest

from reenact.app.sources import VideoFileSource
from reenact.engine.errors import ReenactError


def test_video_file_frames_are_rgb_with_timestamps(clip_path):
    with VideoFileSource(clip_path) as src:
        assert src.fps == pytest.approx(24, abs=0.1)
        first, second = src.read(), src.read()
    assert first.image.shape == (288, 360, 3) and first.image.dtype == np.uint8
    assert (first.index, second.index) == (0, 1)
    assert second.timestamp_ms == pytest.approx(1000 / 24, abs=1)
    # franck's background is blue: in RGB order the blue channel dominates the top-left corner.
    corner = first.image[:20, :20].reshape(-1, 3).mean(0)
    assert corner[2] > corner[0] + 40


def test_video_file_ends_or_loops(clip_path, clip_frames):
    with VideoFileSource(clip_path) as src:
        n = sum(1 for _ in iter(src.read, None))
    assert n == len(clip_frames)
    with VideoFileSource(clip_path, loop=True) as src:
        frames = [src.read() for _ in range(len(clip_frames) + 3)]
    assert all(f is not None for f in frames)
    assert np.abs(frames[len(clip_frames)].image.astype(int) - clip_frames[0]).mean() < 1.0
    assert src.read() is None, "a closed source yields nothing"


def test_not_a_video_is_a_user_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    with pytest.raises(ReenactError, match="notes.mp4: not a readable video"):
        VideoFileSource(bad)
    with pytest.raises(ReenactError, match="not found"):
        VideoFileSource(tmp_path / "missing.mp4")


def _face_is_upright(tracker, image) -> bool:
    """Eyes above the mouth, more than they are beside it."""
    from reenact.engine.landmarks import LEFT_EYE, LIPS, RIGHT_EYE

    lm = tracker.detect(image)
    assert lm is not None, "a face is found"
    dx, dy = lm[list(LIPS), :2].mean(0) - lm[list(LEFT_EYE + RIGHT_EYE), :2].mean(0)
    return dy > 2 * abs(dx)


def test_phone_clip_with_a_display_rotation_is_read_upright(phone_clip, clip_frames, static_tracker):
    with VideoFileSource(phone_clip) as src:
        frames = [f.image for f in iter(src.read, None)]
        assert (src.width, src.height) == (360, 288), "the size as displayed, not as stored"
    assert len(frames) == 48
    for i in (0, 20, 47):
        assert frames[i].shape == clip_frames[i].shape
        assert np.abs(frames[i].astype(int) - clip_frames[i]).mean() < 4, f"frame {i} matches the upright original"
    assert _face_is_upright(static_tracker, frames[10])


def test_variable_frame_rate_timestamps_come_from_the_stream(vfr_clip, read_mark):
    path, times = vfr_clip
    with VideoFileSource(path, loop=True) as src:
        frames = [src.read() for _ in range(len(times) + 2)]
    for frame, t in zip(frames, times, strict=False):
        assert read_mark(frame.image) == frame.index
        assert frame.timestamp_ms == pytest.approx(t * 1000, abs=1), f"frame {frame.index} is shown at {t:.3f} s"
    looped = frames[len(times)]
    assert read_mark(looped.image) == 0 and looped.timestamp_ms > frames[len(times) - 1].timestamp_ms, \
        "after a loop, time keeps going forward"


def test_an_image_is_not_taken_for_a_video():
    from reenact.engine.assets import AVATARS_DIR

    with pytest.raises(ReenactError, match="mona_lisa.jpg: is an image, not a video"):
        VideoFileSource(AVATARS_DIR / "mona_lisa.jpg")
