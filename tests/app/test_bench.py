"""`reenact bench` runs the app's threaded path end to end on the bundled clip and writes a complete report; --load
runs and is recorded; the comparison network is FOMM-shaped and the claim about it follows the real ratio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from reenact.app.bench.fomm_sized import FOMM_INPUTS, build_fomm_sized, parameter_counts
from reenact.app.bench.report import BackendResult, BenchReport, Stat, format_report, speedup
from reenact.app.bench.setup import backend_kinds
from reenact.app.cli import main
from reenact.engine.config import ModelConfig
from reenact.engine.model.networks import FRAME_INPUTS, FRAME_OUTPUTS, ReenactModel
from reenact.engine.pipeline import FRAME_STAGES


def _fomm_inputs(size: int = 128) -> list[torch.Tensor]:
    """The avatar crop, then the frame graph's inputs (FOMM_INPUTS are the crop and the motion inputs among them)."""
    config = ModelConfig(size=size)
    model = ReenactModel(config).eval()
    g = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, size, size, generator=g)
    c = (torch.arange(size) * 2 + 1) / size - 1
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    grid = torch.stack([xx, yy], -1)[None]
    kp = torch.rand(1, 170, 2, generator=g) * 2 - 1
    with torch.inference_mode():
        feats = model.encoder(source)
    return [source, *feats, grid, kp, kp + 0.01]


def test_bench_writes_json_with_every_stage_and_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, plot = tmp_path / "bench.json", tmp_path / "bench.png"
    rc = main(["bench", "--backend", "torch", "--frames", "5", "--warmup", "2", "--model-runs", "2",
               "--fomm-frames", "1", "--weights", str(tmp_path / "none.pt"), "--json", str(out),
               "--plot", str(plot)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["random_weights"] is True and data["size"] == 256 and data["load"] is None
    result = data["backends"]["torch"]
    assert result["frames"] == 5
    assert result["fps"] > 0 and 0 < result["median_ms"] <= result["p95_ms"] and result["cpu_ms_per_frame"] > 0
    assert set(result["stages"]) == set(FRAME_STAGES)  # the app's stages, timed on the app's threads
    for stat in [*result["stages"].values(), result["model_step"], result["fomm_sized_step"]]:
        assert 0 <= stat["median_ms"] <= stat["p95_ms"]
    assert result["output_frames"] >= 5  # the virtual camera sink (null driver) really got the frames
    assert result["frames_without_face"] == 0  # the bundled clip shows a face in every frame
    assert data["fomm_sized"]["params"]["total"] > 40e6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr()
    assert "random-initialised" in printed.err and "FOMM-sized" in printed.out


def _report(model_ms: float, fomm_ms: float) -> BenchReport:
    model, fomm = Stat(model_ms, model_ms), Stat(fomm_ms, fomm_ms)
    result = BackendResult("onnxruntime-cpu", "int8", "", 10, 30.0, 30.0, 40.0, {}, model, fomm, speedup(model, fomm), 0, 50.0)
    return BenchReport({"cpu": "x", "cores": 2, "memory_gib": 1, "load_before": [0.1, 0, 0], "load_after": [0.1]},
                       256, "w", False, "vcam", 0.0, 20, None,
                       {"params": {"total": 59.8e6, "dense_motion": 37.7e6, "generator": 7.8e6}},
                       {"onnxruntime": result})


@pytest.mark.parametrize(("model_ms", "fomm_ms", "words"), [
    (16.0, 400.0, "25.0× faster than the FOMM-sized network (meets the 20× target)"),
    (40.0, 400.0, "10.0× faster than the FOMM-sized network (short of the 20× target)"),
    (500.0, 250.0, "2.0× SLOWER than the FOMM-sized network"),
])
def test_the_fomm_comparison_says_what_the_figures_say(model_ms: float, fomm_ms: float, words: str) -> None:
    text = format_report(_report(model_ms, fomm_ms))
    assert words in text
    if model_ms > fomm_ms:
        assert "faster" not in text


def test_bench_refuses_to_overwrite_and_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    out.write_text("{}")
    assert main(["bench", "--frames", "1", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--overwrite" in err[0]
    assert out.read_text() == "{}"


def test_backend_choice() -> None:
    assert {"torch", "onnxruntime", "tensorrt"} <= set(backend_kinds("all"))
    assert backend_kinds("all")[-1] == "warp"  # and the network-free path beside them
    assert backend_kinds("torch") == ["torch"]


def test_the_default_bench_times_what_the_app_runs_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """With the shipped weights `auto` is the network (engine.mode) on the fastest backend here: the model stage
    and the model step are timed, and the flight control's windows recorded."""
    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))  # the export it makes is its own
    out = tmp_path / "bench.json"
    assert main(["bench", "--frames", "70", "--warmup", "2", "--model-runs", "2", "--fomm-frames", "0",
                 "--output", "none", "--json", str(out)]) == 0
    (label, result), = json.loads(out.read_text())["backends"].items()
    assert label != "warp" and result["name"] != "analytic warp" and result["model_step"] is not None
    assert set(result["stages"]) == set(FRAME_STAGES) and result["reason"]
    assert result["frames"] == 70 and result["fps"] > 0
    windows = result["in_flight"]
    assert len(windows) >= 2 and all(1 <= w["limit"] <= 3 and w["fps"] > 0 for w in windows)
    assert f"{label} ({result['name']}" in capsys.readouterr().out


def test_the_warp_bench_times_no_network(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "--backend", "warp", "--frames", "5", "--warmup", "1", "--fomm-frames", "0",
                 "--output", "none", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["backends"]["warp"]
    assert result["name"] == "analytic warp" and result["model_step"] is None and result["fomm_sized_step"] is None
    assert set(result["stages"]) == set(FRAME_STAGES) - {"model"}


def test_fomm_sized_has_fomm_size_and_the_frame_interface() -> None:
    net = build_fomm_sized()
    counts = parameter_counts(net)
    # FOMM vox-256: keypoint detector 14.2 M, dense motion + generator 45.6 M parameters.
    assert counts["kp_detector"] == pytest.approx(14.2e6, rel=0.02)
    assert counts["dense_motion"] + counts["generator"] == pytest.approx(45.6e6, rel=0.02)
    assert set(FOMM_INPUTS) - {"source"} <= set(FRAME_INPUTS)
    named = dict(zip(("source", *FRAME_INPUTS), _fomm_inputs(), strict=True))
    inputs = [named[n] for n in FOMM_INPUTS]
    ours = ReenactModel(ModelConfig(size=128)).eval()
    with torch.inference_mode():
        ref_out = net(*inputs)
        our_out = ours.frame.layers(*(named[n] for n in FRAME_INPUTS))
    assert len(ref_out) == len(our_out) == len(FRAME_OUTPUTS)
    for name, r, o in zip(FRAME_OUTPUTS, ref_out, our_out, strict=True):
        assert r.shape == o.shape, name
        assert torch.isfinite(r).all()
        if name != "flow":  # images and masks
            assert 0 <= float(r.min()) and float(r.max()) <= 1, name
    # it really computes from its inputs: another driving pose gives other content
    moved = list(inputs)
    grid = FOMM_INPUTS.index("grid")
    moved[grid] = inputs[grid].flip(2)
    generated = FRAME_OUTPUTS.index("generated")
    with torch.inference_mode():
        assert not np.allclose(net(*moved)[generated].numpy(), ref_out[generated].numpy())


def test_unknown_backend_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--backend", "cuda", "--frames", "1", "--weights", str(tmp_path / "none.pt")])
    assert rc == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("reenact: error")]
    assert len(err) == 1 and "unknown backend 'cuda'" in err[0]


def test_soak_memory_stays_bounded_and_the_mp4_output_holds_the_frames(tmp_path: Path) -> None:
    from tests.app.test_outputs import encoded_frames

    out, video = tmp_path / "soak.json", tmp_path / "soak.mp4"
    rc = main(["bench", "--backend", "torch", "--soak", "1.5", "--warmup", "2", "--model-runs", "1",
               "--fomm-frames", "0", "--output", "mp4", "--record", str(video), "--weights",
               str(tmp_path / "none.pt"), "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())["backends"]["torch"]
    assert result["frames"] >= 1 and result["fomm_sized_step"] is None and result["speedup_vs_fomm_sized"] is None
    rss = result["rss"]
    assert set(rss) == {"start_mb", "peak_mb", "end_mb", "growth_mb"}
    assert rss["start_mb"] <= rss["peak_mb"] and rss["end_mb"] <= rss["peak_mb"]
    assert abs(rss["growth_mb"]) < 50  # flat: what a 5-minute soak must also show
    # the recording was really encoded: ffmpeg finds in the file the frames the recorder says it wrote
    assert result["output_frames"] >= 1 and encoded_frames(video) == result["output_frames"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soak.json", "soak.mp4"]  # no partial file left


def test_load_runs_beside_the_bench_and_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    rc = main(["bench", "--backend", "torch", "--frames", "3", "--warmup", "1", "--model-runs", "1",
               "--fomm-frames", "0", "--output", "none", "--load", "2", "--weights", str(tmp_path / "none.pt"),
               "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    load = data["load"]
    assert load["processes"] == 2 and len(load["cpu_s"]) == 2
    assert all(s > 0 for s in load["cpu_s"])  # they really ran (and took CPU) during the run
    assert load["pinned_to"] is None or len(load["pinned_to"]) == 2
    after = {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}
    assert after <= before  # and they are gone afterwards


def test_bench_refuses_a_driving_clip_without_a_face(tmp_path: Path, faceless_clip: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "bench", "--driving", str(faceless_clip),
                           "--backend", "torch", "--frames", "1", "--warmup", "0", "--model-runs", "1",
                           "--fomm-frames", "0", "--output", "none", "--weights", str(tmp_path / "none.pt")],
                          capture_output=True, text=True, timeout=300)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("reenact:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and str(faceless_clip) in errors[0] and "no face" in errors[0]


@pytest.mark.parametrize(("extra", "words"), [
    (["--output", "mp4", "--record", "{dir}/keep.txt"], "cannot write a .txt file"),
    (["--output", "vcam", "--record", "{dir}/keep.mp4"], "use it with --output mp4"),
])
def test_a_recording_that_cannot_be_kept_is_refused_before_any_work(tmp_path: Path, capsys, extra, words) -> None:
    args = [a.replace("{dir}", str(tmp_path)) for a in extra]
    assert main(["bench", "--frames", "1", "--weights", str(tmp_path / "none.pt"), *args]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("reenact:")]
    assert len(err) == 1 and words in err[0]
    assert list(tmp_path.iterdir()) == []
