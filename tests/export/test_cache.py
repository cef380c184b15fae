"""The per-user export cache behind `reenact.export.open_backend`: one export per checkpoint content and export
format, made by the one exporter (parity on random and real inputs), and a damaged entry found, said, and rebuilt;
the int8 variant ONNX Runtime runs on a CPU, made and judged once, or refused once and remembered."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from reenact.engine.backends import BackendUnavailable
from reenact.engine.backends.cache import file_sha256
from reenact.engine.backends.torch_backend import TorchBackend
from reenact.engine.errors import ReenactError
from reenact.export import onnx_graphs, open_backend
from reenact.export.cache import CHECKSUMS, INT8_SUFFIX, REJECTED
from reenact.export.parity import compare, random_case

from .conftest import TINY, make_checkpoint


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def made_entry(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache entry of the tiny checkpoint, exported once for the tests that only need one to exist."""
    root = tmp_path_factory.mktemp("made-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REENACT_CACHE_DIR", str(root))
        open_backend("onnxruntime", tiny_checkpoint, precision="fp32").close()
    (entry,) = (root / "onnx").iterdir()
    return entry


def _seed(cache: Path, entry: Path) -> Path:
    """The cache as a first run leaves it."""
    return Path(shutil.copytree(entry, cache / "onnx" / entry.name))


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "onnx").iterdir()) if (cache / "onnx").exists() else []


def _has_ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _matches(checkpoint: Path, backend) -> bool:
    baseline = TorchBackend(checkpoint)
    try:
        return compare(baseline, backend, [random_case(baseline.meta, seed=5)]).ok
    finally:
        baseline.close()


def test_checkpoint_is_exported_once_then_reused(tiny_checkpoint: Path, cache: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reenact.export")
    first = open_backend("onnxruntime", tiny_checkpoint, precision="fp32")
    folders = _entries(cache)
    assert len(folders) == 1 and not any(p.suffix == ".tmp" for p in folders)
    parity = (folders[0] / "parity.txt").read_text()
    assert "real " in parity and "result: PASS" in parity, "the cache checks on real inputs, as `reenact export` does"
    stamps = {p: p.stat().st_mtime_ns for p in folders[0].iterdir()}
    caplog.clear()
    second = open_backend("onnxruntime", tiny_checkpoint, precision="fp32")
    assert "using the cached ONNX export" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in folders[0].iterdir()} == stamps
    assert first.meta == second.meta and first.meta.input_size == 64


def test_a_checkpoint_changed_at_the_same_path_gets_its_own_export(tmp_path: Path, cache: Path) -> None:
    """Retrained in place: the cache is keyed by what the file holds, not by its name."""
    path = make_checkpoint(tmp_path / "model.pt", TINY, seed=1)
    open_backend("onnxruntime", path, precision="fp32").close()
    make_checkpoint(path, TINY, seed=2)
    backend = open_backend("onnxruntime", path, precision="fp32")
    try:
        assert len(_entries(cache)) == 2
        assert _matches(path, backend), "the ONNX Runtime backend runs the new weights"
    finally:
        backend.close()


def test_an_export_format_bump_exports_again(tiny_checkpoint: Path, cache: Path, made_entry: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    old = _seed(cache, made_entry)
    monkeypatch.setattr(onnx_graphs, "EXPORT_FORMAT", str(int(onnx_graphs.EXPORT_FORMAT) + 1))
    open_backend("onnxruntime", tiny_checkpoint, precision="fp32").close()
    new = [p for p in _entries(cache) if p != old]
    assert len(new) == 1 and new[0].name.endswith(f"-v{onnx_graphs.EXPORT_FORMAT}")
    from reenact.engine.backends.artifacts import read_onnx_metadata

    assert read_onnx_metadata(new[0] / "frame.onnx")["reenact.export_format"] == onnx_graphs.EXPORT_FORMAT


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # one byte of the weights changed: the graph still loads, and would compute something else
        data[len(data) * 3 // 4] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "altered"])
def test_a_damaged_cached_graph_is_rebuilt_with_one_warning(tiny_checkpoint: Path, cache: Path, how: str,
                                                             made_entry: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _seed(cache, made_entry)
    _damage(folder / "frame.onnx", how)

    caplog.set_level(logging.WARNING)
    backend = open_backend("onnxruntime", tiny_checkpoint, precision="fp32")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(folder) in warnings[0] and "frame.onnx" in warnings[0] and "again" in warnings[0]
    assert "\n" not in warnings[0]
    sums = json.loads((folder / CHECKSUMS).read_text())
    assert sums["frame.onnx"] == file_sha256(folder / "frame.onnx")
    assert _entries(cache) == [folder]  # nothing half-deleted left
    try:
        assert _matches(tiny_checkpoint, backend)
    finally:
        backend.close()


def test_a_whole_cache_is_used_without_a_warning(tiny_checkpoint: Path, cache: Path, made_entry: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    _seed(cache, made_entry)
    caplog.set_level(logging.INFO)
    open_backend("onnxruntime", tiny_checkpoint, precision="fp32").close()
    assert "using the cached ONNX export" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.skipif(_has_ort_cuda(), reason="the CUDA provider is installed here")
def test_explicit_onnxruntime_cuda_without_provider_exports_nothing(tiny_checkpoint: Path, cache: Path) -> None:
    with pytest.raises(BackendUnavailable, match="no CUDA provider"):
        open_backend("onnxruntime-cuda", tiny_checkpoint)
    assert _entries(cache) == []  # found out before exporting anything


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None or _has_ort_cuda(),
                    reason="GPU backends come first in auto there")
def test_auto_falls_back_to_torch_when_the_export_does_not_match(tiny_checkpoint: Path, cache: Path,
                                                                 unmatchable_onnxruntime: None) -> None:
    backend = open_backend("auto", tiny_checkpoint)
    assert backend.name.startswith("torch")
    assert "onnxruntime cannot use" in backend.reason and "does not match PyTorch" in backend.reason
    assert _entries(cache) == []  # the failed export was not kept
    with pytest.raises(ReenactError, match="does not match PyTorch"):
        open_backend("onnxruntime", tiny_checkpoint, precision="fp32")


def test_an_export_folder_is_used_as_it_is(cache: Path, made_entry: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(made_entry, tmp_path / "copy")
    backend = open_backend("onnxruntime", copy, precision="fp32")
    try:
        assert _entries(cache) == [], "nothing exported for a folder that is an export already"
        out = backend.run("encoder", {"source": np.zeros((1, 3, 64, 64), np.float32)})
        assert set(out) == {"feat_128", "feat_64", "feat_32"}
    finally:
        backend.close()


def test_onnxruntime_on_a_cpu_runs_the_calibrated_int8_variant_made_once(cache: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The shipped weights: quantised on first use (calibrated and judged on the bundled avatars and clip), found
    in the cache afterwards; fp32 when asked."""
    from reenact.engine.assets import DEFAULT_WEIGHTS

    caplog.set_level(logging.INFO, logger="reenact.export")
    with open_backend("onnxruntime", DEFAULT_WEIGHTS) as backend:
        assert backend.meta.precision == "int8"
    assert "int8 holds" in caplog.text
    fp32, int8 = _entries(cache)
    assert int8.name == fp32.name + INT8_SUFFIX and (int8 / CHECKSUMS).is_file()
    stamps = {p: p.stat().st_mtime_ns for p in int8.iterdir()}
    caplog.clear()
    with open_backend("onnxruntime", DEFAULT_WEIGHTS) as again:
        assert again.meta.precision == "int8"
    assert "using the cached int8 export" in caplog.text and "quantising" not in caplog.text
    assert {p: p.stat().st_mtime_ns for p in int8.iterdir()} == stamps
    with open_backend("onnxruntime", DEFAULT_WEIGHTS, precision="fp32") as asked:
        assert asked.meta.precision == "fp32"


def test_an_int8_variant_that_does_not_hold_is_refused_once_and_fp32_runs(
        tiny_checkpoint: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from reenact.export import quantize

    monkeypatch.setattr(quantize, "MIN_CROP_PSNR_DB", float("inf"))  # no approximation can hold
    caplog.set_level(logging.INFO, logger="reenact.export")
    with open_backend("onnxruntime", tiny_checkpoint) as backend:
        assert backend.meta.precision == "fp32"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "running fp32" in warnings[0] and "dB PSNR against fp32's" in warnings[0]
    fp32, refused = _entries(cache)
    assert sorted(p.name for p in refused.iterdir()) == [REJECTED]
    caplog.clear()
    with open_backend("onnxruntime", tiny_checkpoint) as again:
        assert again.meta.precision == "fp32"
    assert "quantising" not in caplog.text and "running fp32" in caplog.text
