"""Evaluation on a tiny real clip, and the one-line errors of the train/eval commands."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reenact.app.cli import main
from reenact.engine.config import ModelConfig
from reenact.engine.model.checkpoint import Checkpoint, save_checkpoint
from reenact.engine.model.networks import ReenactModel
from reenact.training.evaluate import METHODS, METRICS, EvalOptions, clip_bounds, evaluate, format_table
from reenact.training.face_metrics import EYES, MOUTH, FaceReading, keypoint_distance


@pytest.fixture()
def fresh_weights(tiny_model: ModelConfig, tmp_path: Path) -> Path:
    return save_checkpoint(Checkpoint(tiny_model, ReenactModel(tiny_model).state_dict()), tmp_path / "w.pt")


def test_eval_on_ten_frames_gives_finite_metrics_for_all_methods(tiny_data: dict, fresh_weights: Path) -> None:
    report = evaluate(EvalOptions(videos=tiny_data["videos"], weights=fresh_weights, start=0, stop=10,
                                  cache_dir=tiny_data["cache"], progress=False))
    data = report.to_dict()
    assert set(data) == {"overall", "videos"}
    assert list(data["videos"]) == ["franck_talk"]
    scores = report.videos["franck_talk"]
    assert scores.frames + scores.skipped == 9 and scores.frames >= 7  # frames 1-9: frame 0 is the source
    for method in METHODS:
        assert set(data["overall"][method]) == set(METRICS)
        for metric in METRICS:
            assert math.isfinite(data["overall"][method][metric]), (method, metric)
    overall = data["overall"]
    # Every scored frame moved from the source: the warp must follow the face better than the copied source (the
    # independent detector says so).
    assert overall["warp"]["akd"] < overall["none"]["akd"]
    assert "franck_talk" in format_table(report)


def test_keypoint_distance_of_the_mouth_and_the_eyes() -> None:
    rng = np.random.default_rng(0)
    real = FaceReading(rng.uniform(0, 256, (68, 2)), np.zeros(128))
    moved = real.points.copy()
    moved[MOUTH] += (3.0, 4.0)  # the mouth alone is 5 px off
    pred = FaceReading(moved, np.zeros(128))
    assert keypoint_distance(pred, real, MOUTH) == pytest.approx(5.0)
    assert keypoint_distance(pred, real, EYES) == 0.0
    assert keypoint_distance(pred, real) == pytest.approx(5.0 * 20 / 68)


def test_clip_bounds_split_the_range() -> None:
    assert clip_bounds(4000, 4800, 200) == [(4000, 4200), (4200, 4400), (4400, 4600), (4600, 4800)]
    assert clip_bounds(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert clip_bounds(0, 9, 4) == [(0, 4), (4, 9)]  # a one-frame leftover joins the clip before it
    assert clip_bounds(0, 10, 4, stride=2) == [(0, 4), (4, 10)]  # a leftover with no frame after its source, too
    assert clip_bounds(0, 11, 4, stride=2) == [(0, 4), (4, 8), (8, 11)]
    assert clip_bounds(3, 10, None) == [(3, 10)]


def test_eval_in_clips_gives_each_clip_its_own_source(tiny_data: dict, fresh_weights: Path) -> None:
    report = evaluate(EvalOptions(videos=tiny_data["videos"], weights=fresh_weights, start=0, stop=12, stride=2,
                                  clip_length=6, cache_dir=tiny_data["cache"], progress=False))
    assert list(report.clips) == ["franck_talk[0:6]", "franck_talk[6:12]"]
    for clip in report.clips.values():
        assert clip.frames + clip.skipped == 2  # frames 2 and 4 of each clip: its first frame is its source
        # no scored frame is the source itself, which copying it would reproduce exactly, landmarks and all
        assert all(x > 0.0 for x in clip.values["none"]["l1"])
        for method in METHODS:
            for metric in ("akd_mouth", "akd_eyes"):
                assert all(math.isfinite(x) and x >= 0 for x in clip.values[method][metric]), (method, metric)
    assert report.videos["franck_talk"].frames == sum(c.frames for c in report.clips.values())
    table = format_table(report)
    assert "franck_talk[6:12]" in table and "clips where L1 beats copying the source" in table


def test_eval_cli_writes_json(tiny_data: dict, fresh_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "metrics.json"
    rc = main(["eval", "--videos", str(tiny_data["videos"]), "--weights", str(fresh_weights), "--frames", "0:6",
               "--stride", "2", "--clip-length", "3", "--cache-dir", str(tiny_data["cache"]), "--json", str(out),
               "--quiet"])
    assert rc == 0
    data = json.loads(out.read_text())
    assert set(data["videos"]["franck_talk"]) == set(METHODS)
    assert list(data["clips"]) == ["franck_talk[0:3]", "franck_talk[3:6]"]
    for scores in (data["overall"], *data["clips"].values()):
        assert set(scores["warp"]) == set(METRICS)
        assert math.isfinite(scores["model"]["akd_mouth"]) and math.isfinite(scores["model"]["akd_eyes"])
    # The printed table and the JSON are the same evaluation: every row's L1 and AKD, per clip and per video.
    rows = _table_rows(capsys.readouterr().out)
    for name, means in (*data["clips"].items(), *data["videos"].items()):
        for method in METHODS:
            frames, l1, akd = rows[(name, method)]
            assert (l1, akd) == (f"{means[method]['l1']:.4f}", f"{means[method]['akd']:.3f}"), (name, method)
    # ...and the video's scores pool its clips' frames (frame-weighted), they are not a copy of one clip
    for method in METHODS:
        weights = [rows[(clip, method)][0] for clip in data["clips"]]
        pooled = np.average([c[method]["l1"] for c in data["clips"].values()], weights=weights)
        assert data["videos"]["franck_talk"][method]["l1"] == pytest.approx(pooled, rel=1e-6)
    assert data["overall"] == data["videos"]["franck_talk"]  # one video: overall is that video
    assert len({round(data["overall"][m]["l1"], 6) for m in METHODS}) == len(METHODS), "each method is rendered"


def _table_rows(text: str) -> dict[tuple[str, str], tuple[int, str, str]]:
    """(clip or video, method) → (frames, L1, AKD) as `reenact eval` prints them; a name is printed once per block."""
    rows, name = {}, ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] not in METHODS and parts[1] in METHODS:
            name, parts = parts[0], parts[1:]
        if len(parts) >= 5 and parts[0] in METHODS and parts[1].isdigit():
            akd = parts[3] if parts[0] == "none" else parts[4]  # "none" has no "<none" mark
            rows[(name, parts[0])] = (int(parts[1]), parts[2], akd)
    return rows


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> None:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err


def test_corrupt_checkpoint_is_one_line(tiny_data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    _one_line_error(capsys, ["eval", "--videos", str(tiny_data["videos"]), "--weights", str(bad), "--quiet"],
                    str(bad), "not a reenact checkpoint")


def test_bad_inputs_are_one_line(tiny_data: dict, fresh_weights: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    _one_line_error(capsys, ["train", "--config", str(tmp_path / "missing.yaml")], "missing.yaml")
    typo = tmp_path / "typo.yaml"
    typo.write_text("stepz: 3\n")
    _one_line_error(capsys, ["train", "--config", str(typo)], "typo.yaml", "stepz")
    _one_line_error(capsys, ["eval", "--videos", str(tmp_path), "--weights", str(fresh_weights)], "no videos")
    _one_line_error(capsys, ["eval", "--videos", str(tiny_data["videos"]), "--weights", str(fresh_weights),
                             "--frames", "x:y"], "--frames")
    _one_line_error(capsys, ["eval", "--videos", str(tiny_data["videos"]), "--weights", str(fresh_weights),
                             "--clip-length", "1"], "--clip-length")


def test_the_face_judge_loads_without_warnings() -> None:
    # face_recognition_models imports pkg_resources, which warned on every `reenact eval`
    code = "from reenact.training.face_metrics import DlibJudge; DlibJudge()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""


def test_eval_runs_the_model_on_onnxruntime_from_an_export_folder(tiny_data: dict, fresh_weights: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """`--backend onnxruntime --weights FOLDER` scores the export as it is (how an int8 variant is judged); its
    fp32 graphs score as PyTorch does. A checkpoint there is one line saying what to make."""
    from reenact.export.cache import cached_onnx

    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))
    folder = cached_onnx(fresh_weights)
    scores = {}
    for backend, weights in (("torch", fresh_weights), ("onnxruntime", folder)):
        out = tmp_path / f"{backend}.json"
        assert main(["eval", "--videos", str(tiny_data["videos"]), "--weights", str(weights), "--frames", "0:6",
                     "--backend", backend, "--cache-dir", str(tiny_data["cache"]), "--json", str(out),
                     "--quiet"]) == 0
        scores[backend] = json.loads(out.read_text())["overall"]
    assert scores["onnxruntime"]["warp"] == scores["torch"]["warp"]
    for metric in ("l1", "akd", "psnr"):
        assert scores["onnxruntime"]["model"][metric] == pytest.approx(scores["torch"]["model"][metric], rel=1e-3)
    capsys.readouterr()
    _one_line_error(capsys, ["eval", "--videos", str(tiny_data["videos"]), "--weights", str(fresh_weights),
                             "--backend", "onnxruntime", "--frames", "0:6", "--quiet"], "export folder", "reenact export")
