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
