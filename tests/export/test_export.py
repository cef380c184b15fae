"""`reenact export`: two self-describing ONNX graphs, proven against PyTorch, or no files at all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reenact.app.cli import main
from reenact.engine.backends import load_backend
from reenact.engine.backends.artifacts import onnx_paths, read_onnx_metadata
from reenact.engine.backends.base import ModelMeta
from reenact.engine.backends.formats import tolerance_for
from reenact.engine.backends.torch_backend import TorchBackend
from reenact.engine.model.checkpoint import load_checkpoint
from reenact.export.parity import compare, random_case, real_case


@pytest.fixture(scope="module")
def tiny_export(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("export") / "tiny"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out)])
    assert code == 0
    return out, buf.getvalue()


def test_export_prints_a_passing_parity_report(tiny_export: tuple[Path, str]) -> None:
    out, printed = tiny_export
    assert "parity onnxruntime-cpu (fp32) vs torch-cpu (fp32)" in printed
    for case in ("random", "real"):
        for output in ("feat_128", "feat_64", "feat_32", "mask", "flow", "generated", "image"):
            assert any(line.split()[:1] == [case] and output in line and line.endswith("ok")
                       for line in printed.splitlines()), (case, output)
    assert "result: PASS" in printed
    assert (out / "parity.txt").read_text().strip() in printed
    assert sorted(p.name for p in out.iterdir()) == ["encoder.onnx", "frame.onnx", "parity.txt"]


def test_metadata_describes_the_model(tiny_export: tuple[Path, str], tiny_checkpoint: Path) -> None:
    out, _ = tiny_export
    config = load_checkpoint(tiny_checkpoint).model_config
    for graph, path in onnx_paths(out).items():
        props = read_onnx_metadata(path)
        meta = ModelMeta.from_metadata(props, path)
        assert meta == ModelMeta.from_model_config(config)
        assert meta.input_size == 64
        assert props["reenact.graph"] == graph
        assert props["reenact.color_order"] == "RGB" and props["reenact.normalization"] == "rgb01"


def test_tiny_export_matches_torch_through_the_onnxruntime_backend(
    tiny_export: tuple[Path, str], tiny_checkpoint: Path
) -> None:
    out, _ = tiny_export
    backend = load_backend("onnxruntime", out)
    baseline = TorchBackend(tiny_checkpoint)
    assert backend.name == "onnxruntime-cpu"
    assert backend.meta.input_size == 64  # read from the ONNX metadata, not from a checkpoint
    report = compare(baseline, backend, [random_case(baseline.meta, seed=7), real_case(baseline)])
    assert report.tolerance == tolerance_for("onnxruntime-cpu", "fp32")
    assert report.ok, report.format()
    assert {r.case for r in report.rows} == {"random", "real"}
    # the comparison is not vacuous: outputs differ from torch by float rounding, not by nothing
    assert 0 < report.worst("frame").max_err


def test_export_fails_and_writes_nothing_when_parity_fails(
    tiny_checkpoint: Path, tmp_path: Path, unmatchable_onnxruntime: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # a tolerance of zero cannot be met by a different runtime: the export must refuse
    out = tmp_path / "never"
    code = main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--random-only"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "does not match PyTorch" in err and str(tiny_checkpoint) in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind


def test_export_refuses_to_overwrite(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "frame.onnx").write_bytes(b"an earlier export")
    code = main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--random-only"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--overwrite" in err and str(out) in err and "frame.onnx" in err and err.count("\n") == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "frame.onnx").read_bytes() == b"an earlier export"
    assert sorted(p.name for p in out.iterdir()) == ["frame.onnx", "keep.txt"]


def test_overwrite_replaces_the_earlier_export_and_nothing_else(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("mine")
    (out / "keep.txt").write_text("mine")
    (out / "encoder.onnx").write_bytes(b"an earlier export")
    (out / "int8").mkdir()  # an int8 variant of the earlier weights must not stay beside the new graphs
    (out / "int8" / "frame.onnx").write_bytes(b"stale")
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--random-only",
                 "--overwrite"]) == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "notes" / "todo.txt").read_text() == "mine"
    assert read_onnx_metadata(out / "encoder.onnx")["reenact.graph"] == "encoder"
    assert sorted(p.name for p in out.iterdir()) == ["encoder.onnx", "frame.onnx", "keep.txt", "notes", "parity.txt"]


def test_export_into_the_current_folder_keeps_what_is_there(tiny_checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "export", "--checkpoint", str(tiny_checkpoint),
                           "--out", ".", "--random-only"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.onnx", "frame.onnx", "keep.txt", "parity.txt"]
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("*.onnx")} == {
        "encoder.onnx": 0o644, "frame.onnx": 0o644}


def test_a_new_export_folder_follows_the_umask(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "new"
    previous = os.umask(0o022)
    try:
        assert main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--random-only"]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == dict.fromkeys(
        ["encoder.onnx", "frame.onnx", "parity.txt"], 0o644)


def test_export_of_a_foreign_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"definitely not a checkpoint")
    code = main(["export", "--checkpoint", str(bogus), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and str(bogus) in err and err.count("\n") == 0


def test_tensorrt_export_without_tensorrt_says_why(tiny_checkpoint: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here; tests/engine/backends/test_tensorrt_backend.py covers it")
    except ImportError:
        pass
    code = main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "o"), "--tensorrt"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "TensorRT is not installed" in err and err.count("\n") == 0
    assert not (tmp_path / "o").exists()


def test_an_export_that_appears_meanwhile_is_not_replaced(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from reenact.engine.errors import ReenactError
    from reenact.export.exporter import ExportOptions, run_export

    out = tmp_path / "models"

    def say(line: str) -> None:  # while the export works, another one lands in the folder
        if not (out / "frame.onnx").exists():
            (out / "frame.onnx").write_bytes(b"another export")

    with pytest.raises(ReenactError) as info:
        run_export(ExportOptions(tiny_checkpoint, out, real_inputs=False), say=say)
    kept = out / "reenact-export-1"
    assert (out / "frame.onnx").read_bytes() == b"another export"
    assert str(kept) in str(info.value) and "--overwrite" in str(info.value)
    assert read_onnx_metadata(kept / "frame.onnx")["reenact.graph"] == "frame"
    assert sorted(p.name for p in out.iterdir()) == ["frame.onnx", "reenact-export-1"]


@pytest.mark.parametrize("holds", [True, False])
def test_int8_is_kept_only_when_it_holds_its_tolerance(tiny_checkpoint: Path, tmp_path: Path, holds: bool,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    if not holds:  # a bound no int8 model can meet
        from reenact.export import quantize

        monkeypatch.setattr(quantize, "MIN_CROP_PSNR_DB", float("inf"))
    out = tmp_path / "models"
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--random-only", "--int8"]) == 0
    printed = capsys.readouterr().out
    assert "calibrated on 72 frames of the bundled avatars" in printed and "dB PSNR against fp32's" in printed
    if holds:
        assert "int8 variant kept in int8/" in printed
        backend = load_backend("onnxruntime", out / "int8")
        assert backend.meta.precision == "int8"
        backend.close()
    else:
        assert "int8 variant NOT kept" in printed
        assert not (out / "int8").exists()
    assert (out / "encoder.onnx").is_file() and (out / "frame.onnx").is_file()  # fp32 graphs either way
