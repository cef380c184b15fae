"""Cross-identity evaluation: the openness figures on hand-built faces, and a real run through the demo's path."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from reenact.app.cli import main
from reenact.engine.assets import AVATARS_DIR
from reenact.training.cross import (
    FIGURES,
    METHODS,
    MIN_FRAMES,
    CrossReport,
    Series,
    eye_openness,
    mouth_openness,
    pearson,
    std_ratio,
)


def _face() -> np.ndarray:
    """68 dlib points (0-based) with a face 100 px wide, the inner lips 10, 16 and 10 px apart, and eyes whose
    aspect ratios are (6 + 8) / (2·30) and (4 + 4) / (2·20)."""
    p = np.zeros((68, 2))
    p[0], p[16] = (0, 50), (100, 50)
    p[61], p[67] = (40, 60), (40, 70)
    p[62], p[66] = (50, 58), (50, 74)
    p[63], p[65] = (60, 60), (60, 70)
    p[36], p[39] = (20, 40), (50, 40)
    p[37], p[41] = (30, 37), (30, 43)
    p[38], p[40] = (40, 36), (40, 44)
    p[42], p[45] = (60, 40), (80, 40)
    p[43], p[47] = (65, 38), (65, 42)
    p[44], p[46] = (75, 38), (75, 42)
    return p


def test_mouth_openness_is_the_inner_lip_gap_over_the_face_width() -> None:
    assert mouth_openness(_face()) == pytest.approx(12 / 100)
    assert mouth_openness(_face() * 3 + 7) == pytest.approx(12 / 100)  # closer, elsewhere: the same figure


def test_eye_openness_is_the_aspect_ratio_of_both_eyes() -> None:
    both = (14 / 60 + 8 / 40) / 2
    assert eye_openness(_face()) == pytest.approx(both)
    assert eye_openness(_face() * 0.5) == pytest.approx(both)


def test_correlation_and_range_of_known_series() -> None:
    a = [1.0, 2.0, 3.0, 4.0]
    assert pearson(a, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0)
    assert pearson(a, [8.0, 6.0, 4.0, 2.0]) == pytest.approx(-1.0)
    assert pearson(a, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert math.isnan(pearson(a, [5.0] * 4)) and math.isnan(pearson([1.0], [2.0]))
    assert std_ratio([2.0, 4.0, 6.0, 8.0], a) == pytest.approx(2.0)
    assert math.isnan(std_ratio(a, [3.0] * 4))


def _series(frames: int, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    drv = list(rng.uniform(0, 0.1, frames))
    return Series(drv, list(rng.uniform(0.2, 0.3, frames)), [x + rng.normal(0, 0.01) for x in drv],
                  list(rng.uniform(0.2, 0.3, frames)), [0.3] * frames, [0.25] * frames)


def test_a_pair_dlib_found_in_a_few_frames_has_no_figures() -> None:
    """A painting dlib finds a face in twice out of 400 frames would give a correlation of ±1 and outweigh every
    other avatar in the overall: such a pair counts its frames, and no figures."""
    few, many = _series(MIN_FRAMES - 1, 0), _series(50, 1)
    assert all(math.isnan(few.figures()[k]) for k in FIGURES) and few.figures()["frames"] == MIN_FRAMES - 1
    report = CrossReport("0:50", {"a": {"v": dict.fromkeys(METHODS, many)}, "b": {"v": dict.fromkeys(METHODS, few)}})
    for method, figures in report.overall().items():
        assert figures["frames"] == 50 + MIN_FRAMES - 1
        for k in FIGURES:
            assert figures[k] == pytest.approx(many.figures()[k]), (method, k)


@pytest.fixture()
def avatars(tmp_path: Path, clip_frames: list[np.ndarray]) -> Path:
    """Mona Lisa, and the driving clip's own first frame (the same person: its mouth must follow the driver's)."""
    folder = tmp_path / "avatars"
    folder.mkdir()
    (folder / "mona_lisa.jpg").write_bytes((AVATARS_DIR / "mona_lisa.jpg").read_bytes())
    cv2.imwrite(str(folder / "franck.png"), cv2.cvtColor(clip_frames[0], cv2.COLOR_RGB2BGR))
    return folder


def test_cross_eval_on_the_bundled_clip(tiny_data: dict, avatars: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cross.json"
    rc = main(["eval", "--cross", "--avatars", str(avatars), "--videos", str(tiny_data["videos"]), "--frames", "0:24",
               "--stride", "2", "--json", str(out), "--quiet"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "mona_lisa.jpg" in table and "overall" in table
    data = json.loads(out.read_text())
    assert set(data["avatars"]) == {"mona_lisa.jpg", "franck.png"}
    for avatar, videos in data["avatars"].items():
        assert list(videos) == ["franck_talk"]
        for method in METHODS:
            f = videos["franck_talk"][method]
            assert set(f) == {"frames", "no_face", *FIGURES}
            assert f["frames"] + f["no_face"] == 12 and f["frames"] >= 10, (avatar, method)
            assert all(math.isfinite(f[k]) for k in FIGURES), (avatar, method, f)
            assert -1.0 <= f["mouth_corr"] <= 1.0 and f["mouth_range"] > 0
            assert f["id_dist"] < 0.6, (avatar, method)  # dlib still sees the avatar's own person
            assert 0.0 < f["driver_id_dist"] < 0.6, (avatar, method)  # the driver moving, against his reference
    for method in METHODS:
        self_driven = data["avatars"]["franck.png"]["franck_talk"][method]
        assert self_driven["mouth_corr"] > 0.5, self_driven  # the same face: its mouth follows the driver's
        assert 0.5 < self_driven["mouth_range"] < 2.0, self_driven
        # Both methods measure the driver against the same reference frame, on the frames dlib read in both.
        assert self_driven["driver_id_dist"] == pytest.approx(
            data["avatars"]["franck.png"]["franck_talk"]["warp"]["driver_id_dist"], abs=0.02)
        assert data["overall"][method]["frames"] == sum(v["franck_talk"][method]["frames"]
                                                        for v in data["avatars"].values())


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> None:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_cross_bad_inputs_are_one_line(tiny_data: dict, tmp_path: Path, capsys: pytest.CaptureFixture,
                                      no_face_image: Path) -> None:
    videos, empty = str(tiny_data["videos"]), tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"
    _one_line_error(capsys, ["eval", "--cross", "--avatars", str(missing), "--videos", videos], str(missing))
    _one_line_error(capsys, ["eval", "--cross", "--avatars", str(empty), "--videos", videos], str(empty),
                    "no avatar images")
    _one_line_error(capsys, ["eval", "--cross", "--avatars", str(AVATARS_DIR), "--videos", str(empty)], str(empty),
                    "no videos")
    faceless = tmp_path / "faceless"
    faceless.mkdir()
    shutil.copy(AVATARS_DIR / "mona_lisa.jpg", faceless / "a_mona_lisa.jpg")
    shutil.copy(no_face_image, faceless / "z_coffee.png")  # after an avatar that would run first
    _one_line_error(capsys, ["eval", "--cross", "--avatars", str(faceless), "--videos", videos],
                    str(faceless / "z_coffee.png"), "no face")
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    _one_line_error(capsys, ["eval", "--cross", "--videos", videos, "--json", str(taken)], str(taken), "--overwrite")
    assert taken.read_text() == "{}"
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    _one_line_error(capsys, ["eval", "--cross", "--videos", videos, "--weights", str(bad)], str(bad),
                    "not a reenact checkpoint")
    _one_line_error(capsys, ["eval", "--cross", "--videos", videos, "--clip-length", "10"], "--clip-length")
    _one_line_error(capsys, ["eval", "--cross", "--sharpness", "--videos", videos], "--sharpness")
