"""`reenact export`: two self-describing ONNX graphs, proven against PyTorch, or no files at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.app.cli import main
from reenact.engine.backends import load_backend
from reenact.engine.backends.base import ModelMeta
from reenact.engine.backends.onnx_export import onnx_paths, read_onnx_metadata
from reenact.engine.backends.parity import compare, random_case, real_case
from reenact.engine.backends.tolerance import TOLERANCES, Tolerance, tolerance_for
from reenact.engine.backends.torch_backend import TorchBackend
from reenact.engine.model.checkpoint import load_checkpoint


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
        for output in ("feat_128", "feat_64", "feat_32", "image", "mask"):
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
    reference = TorchBackend(tiny_checkpoint)
    assert backend.name == "onnxruntime-cpu"
    assert backend.meta.input_size == 64  # read from the ONNX metadata, not from a checkpoint
    report = compare(reference, backend, [random_case(reference.meta, seed=7), real_case(reference)])
    assert report.tolerance == tolerance_for("onnxruntime-cpu", "fp32")
    assert report.ok, report.format()
    assert {r.case for r in report.rows} == {"random", "real"}
    # the comparison is not vacuous: outputs differ from torch by float rounding, not by nothing
    assert 0 < report.worst("frame").max_err


def test_export_fails_and_writes_nothing_when_parity_fails(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a tolerance of zero cannot be met by a different runtime: the export must refuse
    monkeypatch.setitem(TOLERANCES, ("onnxruntime-cpu", "fp32"), Tolerance(0.0, 0.0))
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
    code = main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--random-only"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--overwrite" in err and str(out) in err and err.count("\n") == 0
    assert (out / "keep.txt").read_text() == "mine"


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
