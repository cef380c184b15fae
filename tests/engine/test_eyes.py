"""The closed eye's band of lashes (engine.eyes.lash_stroke): as wide as asked at its middle, thinner at the corners."""

from __future__ import annotations

import numpy as np

from reenact.engine.eyes import LASH_TAPER, lash_stroke


def test_the_lash_band_is_its_thickness_at_the_middle_and_tapers_to_the_corners():
    line = np.stack([np.linspace(10.0, 70.0, 9), np.full(9, 20.0)], axis=1)  # a straight eye, 60 px corner to corner
    stroke = lash_stroke(line, (40, 80), 8.0)
    assert stroke.min() >= 0.0 and stroke.max() <= 1.0
    middle, near_corner = stroke[:, 40].sum(), stroke[:, 13].sum()  # covered height, in px, of two columns
    assert abs(middle - 8.0) < 0.5, middle
    # 5 % of the way along, the profile is LASH_TAPER + (1 − LASH_TAPER)·sin(π·0.05) of the middle's
    expected = 8.0 * (LASH_TAPER + (1 - LASH_TAPER) * np.sin(np.pi * 0.05))
    assert abs(near_corner - expected) < 0.6, (near_corner, expected)
    assert stroke[:, :9].max() == 0 and stroke[:, 72:].max() == 0  # nothing beyond the corners
    assert stroke[:14].max() == 0 and stroke[27:].max() == 0  # nor above or below the band
