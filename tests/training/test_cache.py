"""Training reads a phone clip as the app plays it, upright."""

from __future__ import annotations

import numpy as np

from reenact.training.cache import read_frames


def test_phone_clip_frames_are_upright(phone_clip, clip_frames):
    frames = list(read_frames(phone_clip))
    assert len(frames) == 48
    for i in (0, 47):
        assert frames[i].shape == clip_frames[i].shape
        assert np.abs(frames[i].astype(int) - clip_frames[i]).mean() < 4, f"frame {i} matches the upright original"
