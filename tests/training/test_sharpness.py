"""The sharpness figure: 1 for the avatar itself after the same encode, well below 1 for a blurred copy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from reenact.engine.assets import AVATARS_DIR, CLIPS_DIR
from reenact.training.sharpness import _ratio, h264_roundtrip, haar_face_box, laplacian_variance


def test_the_figure_is_one_for_the_avatar_and_low_for_a_blurred_copy(mona_lisa: np.ndarray) -> None:
    box = haar_face_box(mona_lisa)
    assert box is not None and box[2] > 64
    reference = laplacian_variance(h264_roundtrip([mona_lisa] * 4)[-1], box)
    assert 0.95 < _ratio([mona_lisa] * 3, reference, box) < 1.05
    soft = cv2.resize(cv2.resize(mona_lisa, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
                      mona_lisa.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    assert _ratio([soft] * 3, reference, box) < 0.6


def test_roundtrip_keeps_frame_count_and_even_size(mona_lisa: np.ndarray) -> None:
    odd = mona_lisa[:301, :201]
    out = h264_roundtrip([odd] * 5)
    assert len(out) == 5 and out[0].shape == (300, 200, 3)
    assert np.abs(out[2].astype(int) - odd[:300, :200]).mean() < 4


def test_eval_sharpness_reports_every_avatar_for_warp_and_model(tmp_path: Path) -> None:
    out = tmp_path / "sharp.json"
    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "eval", "--sharpness", "--avatars", str(AVATARS_DIR),
                           "--videos", str(CLIPS_DIR), "--frames", "136:142", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())["sharpness"]
    avatars = {p.name for p in AVATARS_DIR.iterdir()}
    assert set(data) == {"warp", "model"}
    for mode in data.values():
        assert set(mode) == avatars
        for r in mode.values():
            assert 0.0 < r["still"] < 1.5 and 0.0 < r["moving"] < 1.5 and r["face_px"] > 32
    assert "mona_lisa.jpg" in proc.stdout
