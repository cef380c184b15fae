"""Fitting the animated avatar into the virtual camera's frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reenact.app.framing import fit_to_frame


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_portrait_is_fitted_whole_and_centred(mona_lisa: np.ndarray, size: tuple[int, int]) -> None:
    w, h = size
    out = fit_to_frame(mona_lisa, w, h)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    ih, iw = mona_lisa.shape[:2]
    scale = min(w / iw, h / ih)
    fw, fh = round(iw * scale), round(ih * scale)
    x, y = (w - fw) // 2, (h - fh) // 2
    expected = cv2.resize(mona_lisa, (fw, fh), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(out[y:y + fh, x:x + fw].astype(int) - expected.astype(int))
    assert diff.mean() < 2.0  # the whole picture, not a crop (resampling may differ slightly)
    assert fh == h  # a portrait fills the height; the sides are a darkened blur, not the picture
    assert out[:, :x].mean() < expected.mean()


def test_same_size_passes_through(astronaut: np.ndarray) -> None:
    h, w = astronaut.shape[:2]
    assert np.array_equal(fit_to_frame(astronaut, w, h), astronaut)


def test_fill_around_fills_the_size_and_keeps_the_face_in_view(mona_lisa) -> None:
    from reenact.app.framing import fill_around

    h, w = mona_lisa.shape[:2]
    face = (w * 0.45, h * 0.25)  # the Mona Lisa's face sits high in the portrait
    out = fill_around(mona_lisa, (1280, 720), face)
    assert out.shape == (720, 1280, 3)
    scale = 1280 / w  # a portrait fills a wide frame by its width: the top and bottom are cut
    top = round(face[1] * scale - 360)
    assert top > 0  # cut around the face, not in the middle of the portrait
    expected = cv2.resize(mona_lisa, (1280, round(h * scale)), interpolation=cv2.INTER_CUBIC)[top : top + 720]
    assert np.abs(out.astype(int) - expected).mean() < 1.0
