"""Avatar files: transparent PNGs on a neutral background, GIFs by their first frame."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from reenact.engine.assets import AVATARS_DIR, BACKDROP, IMAGE_SUFFIXES, load_image


def test_a_transparent_png_is_shown_on_grey_and_said_so(mona_lisa: np.ndarray, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    bgra = cv2.cvtColor(cv2.imread(str(AVATARS_DIR / "mona_lisa.jpg")), cv2.COLOR_BGR2BGRA)
    bgra[:, :100] = (0, 255, 0, 0)  # cut out, with the editor's green left under the transparency
    bgra[:, 100:110, 3] = 128  # a half-transparent seam
    path = tmp_path / "cutout.png"
    cv2.imwrite(str(path), bgra)
    with caplog.at_level(logging.WARNING):
        rgb = load_image(path)
    assert rgb.shape == mona_lisa.shape and rgb.dtype == np.uint8
    assert (rgb[:, :100] == BACKDROP).all()
    seam = (mona_lisa[:, 100:110].astype(int) + BACKDROP) / 2
    assert np.abs(rgb[:, 100:110] - seam).max() <= 2
    assert np.array_equal(rgb[:, 110:], mona_lisa[:, 110:])
    assert [r.getMessage() for r in caplog.records] == [f"{path}: transparent background, shown on mid-grey"]


def test_an_opaque_png_is_read_as_it_is(mona_lisa: np.ndarray, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "opaque.png"
    cv2.imwrite(str(path), cv2.cvtColor(mona_lisa, cv2.COLOR_RGB2BGRA))  # an alpha channel, all opaque
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(load_image(path), mona_lisa)
    assert not caplog.records


def test_a_gif_avatar_is_its_first_frame(mona_lisa: np.ndarray, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    assert ".gif" in IMAGE_SUFFIXES  # offered by the app's file dialog and gallery
    path = tmp_path / "animated.gif"
    first, second = Image.fromarray(mona_lisa), Image.fromarray(np.ascontiguousarray(mona_lisa[::-1]))
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    with caplog.at_level(logging.WARNING):
        rgb = load_image(path)
    assert rgb.shape == mona_lisa.shape and rgb.dtype == np.uint8
    error = np.abs(rgb.astype(int) - mona_lisa).mean()  # GIF's 256-colour palette costs a little
    assert error < 8 and error < 0.5 * np.abs(rgb.astype(int) - mona_lisa[::-1]).mean()
    assert len(caplog.records) == 1 and "first frame" in caplog.records[0].getMessage()
