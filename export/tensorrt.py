"""TensorRT engines built from an export folder's ONNX graphs, for this GPU, into the folder's tensorrt/.

Building takes minutes and belongs to making artifacts, not to loading them: `reenact export --tensorrt` builds
them, and so does the per-user cache on first use (export.artifacts); engine.backends.tensorrt_backend only
loads an engine whose header matches. The operator check (export.tensorrt_ops) runs first, so a graph TensorRT
cannot parse is named by its node instead of failing deep inside the builder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from reenact.engine.atomic import atomic_write_bytes
from reenact.engine.backends.artifacts import engine_dir_for, onnx_paths, read_onnx_metadata
from reenact.engine.backends.base import BackendUnavailable
from reenact.engine.backends.cache import cache_root, file_sha256
from reenact.engine.backends.trt_engine_file import (
    EngineHeader,
    TrtTarget,
    engine_path,
    read_engine,
    stale_reason,
    timing_cache_name,
    write_engine,
)
from reenact.engine.errors import ReenactError
from reenact.export.tensorrt_ops import check_tensorrt_compat

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 1 << 30


def build_engine(trt: ModuleType, onnx_path: Path, precision: str, timing_cache: Path) -> bytes:
    """Parse the ONNX file and build a serialized engine; fp16 when asked; the timing cache is read and updated."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ReenactError(f"TensorRT cannot parse this graph: {errors[:300]}", onnx_path)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        if not getattr(builder, "platform_has_fast_fp16", True):  # deprecated in later 10.x releases
            log.warning("this GPU has no fast fp16; building fp16 anyway as asked")
        config.set_flag(trt.BuilderFlag.FP16)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ReenactError("TensorRT could not build an engine from this graph (see the log above)", onnx_path)
    atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def ensure_engine(onnx_path: str | Path, engine_dir: str | Path, graph: str, target: TrtTarget,
                  meta: dict[str, str], build: Callable[[Path, str], bytes]) -> tuple[Path, bool]:
    """The engine for `onnx_path` on `target`: the cached one when its header matches, else built and written.

    Returns (path, built). `build(onnx_path, precision)` returns a serialized engine. A stale engine under the
    right name (another GPU, TensorRT version or ONNX file) is said and replaced.
    """
    onnx_path, engine_dir = Path(onnx_path), Path(engine_dir)
    digest = file_sha256(onnx_path)
    expected = EngineHeader.for_target(graph, digest, target, meta)
    path = engine_path(engine_dir, graph, target, digest)
    if path.is_file():
        found, _ = read_engine(path, payload=False)
        reason = stale_reason(found, expected)
        if reason is None:
            return path, False
        log.warning("rebuilding the TensorRT engine %s: %s", path, reason)
    else:
        log.info("building a TensorRT engine for %s (%s, %s) into %s", onnx_path, target.gpu, target.precision, path)
    write_engine(path, expected, build(onnx_path, target.precision))
    return path, True


def check_graphs(folder: Path, trt_version: tuple[int, int]) -> None:
    problems = [c.format() for c in (check_tensorrt_compat(p, trt_version) for p in onnx_paths(folder).values())
                if not c.ok]
    if problems:
        raise BackendUnavailable("cannot run these graphs; they use what TensorRT cannot parse:\n" + "\n".join(problems))


def build_engines(folder: Path, precision: str, engine_dir: Path | None = None) -> dict[str, bool]:
    """Engines for both graphs of `folder` on this GPU (built when missing or stale); per graph, whether it was
    built now. Raises BackendUnavailable when TensorRT or a GPU is missing, or the graphs cannot be parsed."""
    from reenact.engine.backends.tensorrt_backend import current_target, import_tensorrt

    trt = import_tensorrt()
    target: TrtTarget = current_target(trt, precision)
    check_graphs(folder, _version_tuple(trt.__version__))
    timing = cache_root() / "tensorrt" / timing_cache_name(target)
    engines = engine_dir or engine_dir_for(folder)
    built = {}
    for graph, onnx_path in onnx_paths(folder).items():
        _, built[graph] = ensure_engine(onnx_path, engines, graph, target, read_onnx_metadata(onnx_path),
                                        lambda p, prec: build_engine(trt, p, prec, timing))
    return built


def _version_tuple(version: str) -> tuple[int, int]:
    parts = [int(p) for p in str(version).split(".")[:2] if p.isdigit()]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]
