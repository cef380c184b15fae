"""load_backend: explicit kinds, "auto" with its reasons; it only loads (making artifacts is reenact.export's job,
tested in tests/export/test_cache.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from reenact.engine.backends import AUTO_ORDER, BackendUnavailable, load_backend
from reenact.engine.errors import ReenactError


def _has_ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def test_auto_order_is_fastest_first() -> None:
    assert AUTO_ORDER == ("tensorrt", "onnxruntime-cuda", "onnxruntime", "torch")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None or _has_ort_cuda(),
                    reason="this check is for a machine without TensorRT or the ONNX Runtime CUDA provider")
def test_auto_on_a_cpu_machine_picks_onnxruntime_and_says_why(small_export: Path) -> None:
    backend = load_backend("auto", small_export)
    assert backend.name == "onnxruntime-cpu"
    assert "tensorrt: TensorRT is not installed" in backend.reason
    assert "onnxruntime-cuda: onnxruntime has no CUDA provider" in backend.reason


def test_without_an_exporter_a_checkpoint_needs_an_export_for_onnxruntime(small_checkpoint: Path,
                                                                         backend_cache: Path) -> None:
    with pytest.raises(BackendUnavailable) as info:
        load_backend("onnxruntime", small_checkpoint)
    text = str(info.value)
    assert text.startswith("onnxruntime needs an export folder") and "reenact export" in text and "\n" not in text
    assert not (backend_cache / "onnx").exists(), "the loader exports nothing"


def test_auto_on_a_checkpoint_without_an_exporter_runs_torch_and_says_why(small_checkpoint: Path) -> None:
    backend = load_backend("auto", small_checkpoint)
    assert backend.name.startswith("torch")
    assert "onnxruntime needs an export folder" in backend.reason


def test_a_prepare_function_supplies_the_artifact(small_checkpoint: Path, small_export: Path) -> None:
    asked = []

    def prepare(fmt: str, weights: Path, precision: str) -> Path:
        asked.append((fmt, weights, precision))
        return small_export

    backend = load_backend("onnxruntime", small_checkpoint, prepare=prepare)
    assert backend.name == "onnxruntime-cpu" and asked == [("onnx", small_checkpoint, "int8")]  # its own default
    load_backend("onnxruntime", small_checkpoint, precision="fp32", prepare=prepare)
    load_backend("onnxruntime", small_checkpoint, precision="fp16", prepare=prepare)  # not on a CPU: its default
    assert asked[1:] == [("onnx", small_checkpoint, "fp32"), ("onnx", small_checkpoint, "int8")]
    with pytest.raises(ReenactError, match="unknown precision 'int4'"):
        load_backend("onnxruntime", small_checkpoint, precision="int4", prepare=prepare)


def test_every_kind_comes_from_the_one_table() -> None:
    from reenact.engine.backends import formats
    from reenact.engine.backends.loader import _call

    assert set(formats.KINDS) == {"auto", *formats.AUTO_ORDER, *(r.kind for r in formats.BACKENDS)}
    for row in formats.BACKENDS:
        assert row.format in formats.FORMATS
        assert callable(_call(row.opener)) and callable(_call(row.probe))
        assert "fp32" in row.tolerances and formats.tolerance_for(row.runs_as, "fp32") is row.tolerances["fp32"]
        assert formats.running(row.runs_as) is row


def test_torch_backend_from_checkpoint(small_checkpoint: Path) -> None:
    backend = load_backend("torch", small_checkpoint)
    assert backend.name in ("torch-cpu", "torch-cuda") and backend.meta.input_size == 64
    assert backend.reason == "torch requested"


def test_torch_cannot_run_an_export_folder(small_export: Path) -> None:
    with pytest.raises(BackendUnavailable, match="needs a reenact checkpoint"):
        load_backend("torch", small_export)


def test_user_mistakes_are_one_line(tmp_path: Path, small_export: Path) -> None:
    with pytest.raises(ReenactError, match="unknown backend 'cuda-magic'"):
        load_backend("cuda-magic", small_export)
    missing = tmp_path / "nope.pt"
    with pytest.raises(ReenactError, match="model weights not found") as exc:
        load_backend("auto", missing)
    assert str(missing) in str(exc.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReenactError, match="is a folder, expected a checkpoint file or an export folder"):
        load_backend("onnxruntime", empty)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_explicit_tensorrt_without_tensorrt_says_so(small_export: Path) -> None:
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed") as exc:
        load_backend("tensorrt", small_export)
    assert "\n" not in str(exc.value)
