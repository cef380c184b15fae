"""The per-user ONNX cache: a damaged graph (cut short by a full disk, or altered) is found, said, and rebuilt."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reenact.engine.backends import load_backend
from reenact.engine.backends.cache import file_sha256
from reenact.engine.backends.onnx_export import CHECKSUMS
from reenact.engine.backends.parity import compare, random_case
from reenact.engine.backends.torch_backend import TorchBackend


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # one byte of the weights changed: the graph still loads, and would compute something else
        data[len(data) * 3 // 4] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "altered"])
def test_a_damaged_cached_graph_is_rebuilt_with_one_warning(small_checkpoint: Path, tmp_path: Path, how: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))
    load_backend("onnxruntime", small_checkpoint).close()
    (folder,) = (tmp_path / "cache" / "onnx").iterdir()
    _damage(folder / "frame.onnx", how)

    caplog.set_level(logging.WARNING)
    backend = load_backend("onnxruntime", small_checkpoint)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(folder) in warnings[0] and "frame.onnx" in warnings[0] and "again" in warnings[0]
    assert "\n" not in warnings[0]
    sums = json.loads((folder / CHECKSUMS).read_text())
    assert sums["frame.onnx"] == file_sha256(folder / "frame.onnx")
    assert [p.name for p in (tmp_path / "cache" / "onnx").iterdir()] == [folder.name]  # nothing half-deleted left
    reference = TorchBackend(small_checkpoint)
    try:
        report = compare(reference, backend, [random_case(reference.meta, seed=5)])
    finally:
        reference.close()
        backend.close()
    assert report.ok, report.format()


def test_a_whole_cache_is_used_without_a_warning(small_checkpoint: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))
    load_backend("onnxruntime", small_checkpoint).close()
    caplog.set_level(logging.INFO)
    load_backend("onnxruntime", small_checkpoint).close()
    assert "using the cached ONNX export" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
