"""Paste-back into a large photo: only the face's box changes, and a frame costs no full-image float arrays."""

from __future__ import annotations

import logging
import tracemalloc

import cv2
import numpy as np
import pytest

from reenact.engine.pipeline import Pipeline

W, H = 6000, 4000


@pytest.fixture(scope="module")
def big_photo(mona_lisa: np.ndarray) -> np.ndarray:
    """The Mona Lisa at 4000 px tall on a 6000×4000 grey canvas: a 24-megapixel photo with a large face."""
    portrait = cv2.resize(mona_lisa, (round(mona_lisa.shape[1] * H / mona_lisa.shape[0]), H),
                          interpolation=cv2.INTER_CUBIC)
    canvas = np.full((H, W, 3), 90, np.uint8)
    x0 = (W - portrait.shape[1]) // 2
    canvas[:, x0 : x0 + portrait.shape[1]] = portrait
    return canvas


@pytest.fixture(scope="module")
def big_pipeline(big_photo: np.ndarray, clip_frames: list[np.ndarray]):
    with Pipeline() as pipe:
        pipe.prepare(big_photo, "big.jpg")
        pipe.step(clip_frames[0])  # the trackers and caches of a first frame
        yield pipe


def test_a_large_photo_gets_one_warning(big_photo: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    with Pipeline() as pipe, caplog.at_level(logging.WARNING):
        pipe.prepare(big_photo, "big.jpg")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("big.jpg: 6000×4000 px, over 4096"), lines


def test_outside_the_paste_box_the_frame_is_the_avatar_bit_for_bit(big_pipeline: Pipeline,
                                                                   clip_frames: list[np.ndarray]) -> None:
    avatar = big_pipeline.avatar
    plan = avatar.paste
    out = big_pipeline.step(clip_frames[40]).image
    assert out.shape == avatar.image.shape and out is not avatar.image
    box = np.zeros((H, W), bool)
    box[plan.y0 : plan.y1, plan.x0 : plan.x1] = True
    assert np.array_equal(out[~box], avatar.image[~box])
    assert not np.array_equal(out[box], avatar.image[box])  # the face itself moved
    assert (plan.x1 - plan.x0) * (plan.y1 - plan.y0) < 0.1 * W * H


def test_a_frame_of_a_large_photo_allocates_one_image_and_one_face_box(big_pipeline: Pipeline,
                                                                       clip_frames: list[np.ndarray]) -> None:
    plan = big_pipeline.avatar.paste
    box_bytes = (plan.x1 - plan.x0) * (plan.y1 - plan.y0) * 3
    frame = clip_frames[41]
    tracemalloc.start()
    try:
        big_pipeline.step(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < W * H * 3 * 4  # no full-image float array
    # the output image (uint8, a copy of the avatar) and the warped face box: blend weights are made once
    assert peak < W * H * 3 + 2 * box_bytes, (peak, box_bytes)
