"""load_backend: explicit kinds, "auto" with its reasons, checkpoints exported on first use into the cache."""

from __future__ import annotations

import importlib.util
import logging
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


def test_checkpoint_is_exported_once_then_reused(small_checkpoint: Path, backend_cache: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reenact.engine.backends")
    first = load_backend("onnxruntime", small_checkpoint)
    folders = sorted((backend_cache / "onnx").iterdir())
    assert len(folders) == 1 and not any(p.suffix == ".tmp" for p in folders)
    stamps = {p: p.stat().st_mtime_ns for p in folders[0].iterdir()}
    caplog.clear()
    second = load_backend("onnxruntime", small_checkpoint)
    assert "using the cached ONNX export" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in folders[0].iterdir()} == stamps
    assert first.meta == second.meta and first.meta.input_size == 64


def test_torch_backend_from_checkpoint(small_checkpoint: Path) -> None:
    backend = load_backend("torch", small_checkpoint)
    assert backend.name in ("torch-cpu", "torch-cuda") and backend.meta.input_size == 64
    assert backend.reason == "torch requested"


def test_torch_cannot_run_an_export_folder(small_export: Path) -> None:
    with pytest.raises(BackendUnavailable, match="needs a checkpoint"):
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


@pytest.mark.skipif(_has_ort_cuda(), reason="the CUDA provider is installed here")
def test_explicit_onnxruntime_cuda_without_provider_says_so(small_checkpoint: Path, backend_cache: Path) -> None:
    before = set((backend_cache / "onnx").iterdir()) if (backend_cache / "onnx").exists() else set()
    with pytest.raises(BackendUnavailable, match="no CUDA provider"):
        load_backend("onnxruntime-cuda", small_checkpoint)
    after = set((backend_cache / "onnx").iterdir()) if (backend_cache / "onnx").exists() else set()
    assert after == before  # found out before exporting anything


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None or _has_ort_cuda(),
                    reason="GPU backends come first in auto there")
def test_auto_falls_back_to_torch_when_the_export_does_not_match(
    small_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reenact.engine.backends.tolerance import TOLERANCES, Tolerance

    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "fresh-cache"))  # no export cached yet
    monkeypatch.setitem(TOLERANCES, ("onnxruntime-cpu", "fp32"), Tolerance(0.0, 0.0))  # nothing can match
    backend = load_backend("auto", small_checkpoint)
    assert backend.name.startswith("torch")
    assert "onnxruntime: " in backend.reason and "does not match PyTorch" in backend.reason
    assert not any((tmp_path / "fresh-cache" / "onnx").iterdir())  # the failed export was not kept
    with pytest.raises(ReenactError, match="does not match PyTorch"):
        load_backend("onnxruntime", small_checkpoint)
