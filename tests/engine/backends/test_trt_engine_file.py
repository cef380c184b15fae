"""Engine headers (read side) and the engine building cache (export.tensorrt), without TensorRT: a stale engine is
rebuilt, never loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.engine.backends.trt_engine_file import (
    MAGIC,
    EngineHeader,
    TrtTarget,
    engine_path,
    read_engine,
    stale_reason,
    write_engine,
)
from reenact.engine.errors import ReenactError
from reenact.export.tensorrt import ensure_engine

H100 = TrtTarget("NVIDIA H100 80GB HBM3", "9.0", "10.3.0", "fp16")
RTX = TrtTarget("NVIDIA GeForce RTX 4090", "8.9", "10.3.0", "fp16")
OLDER_TRT = TrtTarget("NVIDIA H100 80GB HBM3", "9.0", "10.0.1", "fp16")


class Builder:
    """Stands in for TensorRT's builder: records what it was asked to build; the payload names the build."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, str]] = []

    def __call__(self, onnx_path: Path, precision: str) -> bytes:
        self.calls.append((onnx_path, precision))
        return f"engine #{len(self.calls)} of {onnx_path.name} ({precision})".encode()


@pytest.fixture()
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "frame.onnx"
    path.write_bytes(b"pretend graph bytes v1")
    return path


def test_header_round_trip(tmp_path: Path) -> None:
    header = EngineHeader.for_target("frame", "ab" * 32, H100, {"reenact.input_size": "256"})
    path = write_engine(tmp_path / "x.engine", header, b"\x01\x02payload")
    assert path.read_bytes().startswith(MAGIC)
    found, payload = read_engine(path)
    assert found == header and payload == b"\x01\x02payload"
    assert stale_reason(found, header) is None


@pytest.mark.parametrize("content", [b"", b"\x7fELF not an engine at all", MAGIC + b"\xff\xff\xff\xff",
                                     MAGIC + b"\x05\x00\x00\x00{oops"])
def test_foreign_or_corrupt_engine_is_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.engine"
    path.write_bytes(content)
    with pytest.raises(ReenactError) as exc:
        read_engine(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_cache_builds_once_then_loads(onnx_file: Path, tmp_path: Path) -> None:
    build = Builder()
    path, built = ensure_engine(onnx_file, tmp_path / "engines", "frame", H100, {}, build)
    assert built and len(build.calls) == 1
    again, built_again = ensure_engine(onnx_file, tmp_path / "engines", "frame", H100, {}, build)
    assert again == path and not built_again and len(build.calls) == 1
    assert read_engine(path)[1] == b"engine #1 of frame.onnx (fp16)"


@pytest.mark.parametrize("other", [RTX, OLDER_TRT, TrtTarget(H100.gpu, "9.0", "10.3.0", "fp32")])
def test_other_gpu_tensorrt_or_precision_gets_its_own_engine(onnx_file: Path, tmp_path: Path,
                                                             other: TrtTarget) -> None:
    build = Builder()
    first, _ = ensure_engine(onnx_file, tmp_path, "frame", H100, {}, build)
    second, built = ensure_engine(onnx_file, tmp_path, "frame", other, {}, build)
    assert built and second != first and len(build.calls) == 2
    assert read_engine(second)[0].gpu == other.gpu and read_engine(second)[0].tensorrt == other.tensorrt


def test_stale_engine_under_the_right_name_is_rebuilt_not_loaded(onnx_file: Path, tmp_path: Path) -> None:
    """An engine copied from another machine into this machine's cache slot."""
    build = Builder()
    path, _ = ensure_engine(onnx_file, tmp_path, "frame", RTX, {}, build)
    slot = engine_path(tmp_path, "frame", H100, read_engine(path)[0].onnx_sha256)
    slot.write_bytes(path.read_bytes())  # header says RTX 4090
    rebuilt, built = ensure_engine(onnx_file, tmp_path, "frame", H100, {}, build)
    assert rebuilt == slot and built and len(build.calls) == 2
    header, payload = read_engine(slot)
    assert header.gpu == H100.gpu and payload == b"engine #2 of frame.onnx (fp16)"
    assert "GPU" in (stale_reason(read_engine(path)[0], header) or "")


def test_changed_onnx_is_rebuilt(onnx_file: Path, tmp_path: Path) -> None:
    build = Builder()
    first, _ = ensure_engine(onnx_file, tmp_path, "frame", H100, {}, build)
    onnx_file.write_bytes(b"pretend graph bytes v2")
    second, built = ensure_engine(onnx_file, tmp_path, "frame", H100, {}, build)
    assert built and second != first


def test_corrupt_cached_engine_is_reported(onnx_file: Path, tmp_path: Path) -> None:
    build = Builder()
    path, _ = ensure_engine(onnx_file, tmp_path, "frame", H100, {}, build)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ReenactError) as exc:
        ensure_engine(onnx_file, tmp_path, "frame", H100, {}, build)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_the_loader_side_finds_only_the_engine_built_for_this_machine(onnx_file: Path, tmp_path: Path) -> None:
    """What TensorRTBackend checks before it deserializes anything (the loader never builds)."""
    from reenact.engine.backends.tensorrt_backend import engine_problem

    path, _ = ensure_engine(onnx_file, tmp_path, "frame", H100, {}, Builder())
    here = read_engine(path)[0]
    assert engine_problem(path, here) is None
    other_gpu = EngineHeader.for_target("frame", here.onnx_sha256, RTX, {})
    assert "GPU" in engine_problem(path, other_gpu) and str(path) in engine_problem(path, other_gpu)
    missing = engine_problem(tmp_path / "none.engine", here)
    assert missing.startswith("needs a TensorRT engine") and "reenact export" in missing
