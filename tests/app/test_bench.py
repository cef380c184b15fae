"""`reenact bench` runs end to end on the bundled clip and writes a complete report; the reference is FOMM-shaped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reenact.app.bench import STAGES, backend_kinds
from reenact.app.bench_reference import build_reference, parameter_counts
from reenact.app.cli import main
from reenact.engine.config import ModelConfig
from reenact.engine.model.networks import FRAME_OUTPUTS, ReenactModel


def _frame_inputs(size: int = 128) -> list[torch.Tensor]:
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
               "--reference-frames", "1", "--weights", str(tmp_path / "none.pt"), "--json", str(out),
               "--plot", str(plot)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["random_weights"] is True and data["size"] == 256
    result = data["backends"]["torch"]
    assert result["frames"] == 5
    assert result["fps"] > 0 and 0 < result["median_ms"] <= result["p95_ms"]
    assert set(result["stages"]) == set(STAGES)
    for stat in [*result["stages"].values(), result["model_step"], result["reference_step"]]:
        assert 0 < stat["median_ms"] <= stat["p95_ms"]
    ratio = result["reference_step"]["median_ms"] / result["model_step"]["median_ms"]
    assert result["ratio_vs_reference"] == pytest.approx(ratio, rel=0.05)
    assert result["frames_without_face"] == 0  # the bundled clip shows a face in every frame
    assert data["reference"]["params"]["total"] > 40e6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr()
    assert "random-initialised" in printed.err and "faster than the reference" in printed.out


def test_bench_refuses_to_overwrite_and_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    out.write_text("{}")
    assert main(["bench", "--frames", "1", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--overwrite" in err[0]
    assert out.read_text() == "{}"


def test_backend_choice() -> None:
    assert {"torch", "onnxruntime", "tensorrt"} <= set(backend_kinds("all"))
    assert backend_kinds("torch") == ["torch"]


def test_reference_has_fomm_size_and_the_frame_interface() -> None:
    net = build_reference()
    counts = parameter_counts(net)
    # FOMM vox-256: keypoint detector 14.2 M, dense motion + generator 45.6 M parameters.
    assert counts["kp_detector"] == pytest.approx(14.2e6, rel=0.02)
    assert counts["dense_motion"] + counts["generator"] == pytest.approx(45.6e6, rel=0.02)
    inputs = _frame_inputs()
    ours = ReenactModel(ModelConfig(size=128)).eval()
    with torch.inference_mode():
        ref_out = net(*inputs)
        our_out = ours.frame(*inputs)
    assert len(ref_out) == len(our_out) == len(FRAME_OUTPUTS)
    for name, r, o in zip(FRAME_OUTPUTS, ref_out, our_out, strict=True):
        assert r.shape == o.shape, name
        assert torch.isfinite(r).all()
        if name != "flow":  # images and masks
            assert 0 <= float(r.min()) and float(r.max()) <= 1, name
    # it really computes from its inputs: another driving pose gives another image
    moved = list(inputs)
    moved[4] = inputs[4].flip(2)
    with torch.inference_mode():
        assert not np.allclose(net(*moved)[0].numpy(), ref_out[0].numpy())


def test_unknown_backend_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--backend", "cuda", "--frames", "1", "--weights", str(tmp_path / "none.pt")])
    assert rc == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("reenact: error")]
    assert len(err) == 1 and "unknown backend 'cuda'" in err[0]


def test_soak_reports_memory_and_mp4_output_runs(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    rc = main(["bench", "--backend", "torch", "--soak", "0.5", "--warmup", "1", "--model-runs", "1",
               "--reference-frames", "0", "--output", "mp4", "--weights", str(tmp_path / "none.pt"),
               "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())["backends"]["torch"]
    assert result["frames"] >= 1 and result["reference_step"] is None and result["ratio_vs_reference"] is None
    assert set(result["rss"]) == {"start_mb", "peak_mb", "end_mb", "growth_mb"}
    assert result["rss"]["growth_mb"] == pytest.approx(result["rss"]["end_mb"] - result["rss"]["start_mb"], abs=0.11)
    assert list(tmp_path.iterdir()) == [out]  # the encoded video lived in a temporary folder


def test_bench_refuses_a_driving_clip_without_a_face(tmp_path: Path, faceless_clip: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "bench", "--driving", str(faceless_clip),
                           "--backend", "torch", "--frames", "1", "--warmup", "0", "--model-runs", "1",
                           "--reference-frames", "0", "--output", "none", "--weights", str(tmp_path / "none.pt")],
                          capture_output=True, text=True, timeout=300)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("reenact:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and str(faceless_clip) in errors[0] and "no face" in errors[0]
