"""TensorRT backend (TensorRT 10 Python API): engines built from the exported ONNX graphs, cached per machine.

Written against the documented TensorRT 10 API (explicit-batch networks, `build_serialized_network`, named I/O
tensors with `set_tensor_address` / `execute_async_v3`). Device memory and the stream come from PyTorch's CUDA
runtime, so no pycuda is needed and nothing touches the GPU at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from reenact.engine.atomic import atomic_write_bytes
from reenact.engine.backends.base import BackendUnavailable, Closing, ModelMeta, check_feeds
from reenact.engine.backends.cache import cache_root
from reenact.engine.backends.onnx_export import onnx_paths, read_onnx_metadata
from reenact.engine.backends.onnxruntime_backend import read_export_meta
from reenact.engine.backends.trt_engine_file import TrtTarget, ensure_engine, read_engine, timing_cache_name
from reenact.engine.backends.trt_support import check_tensorrt_compat
from reenact.engine.errors import ReenactError

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 1 << 30


def import_tensorrt() -> ModuleType:
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable("TensorRT is not installed (pip install tensorrt, needs an NVIDIA GPU)") from None
    major = int(str(trt.__version__).split(".")[0])
    if major < 10:
        raise BackendUnavailable(f"TensorRT {trt.__version__} is too old (reenact needs TensorRT 10)")
    return trt


def current_target(trt: ModuleType, precision: str) -> TrtTarget:
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT needs a CUDA GPU and none is available")
    major, minor = torch.cuda.get_device_capability(0)
    return TrtTarget(torch.cuda.get_device_name(0), f"{major}.{minor}", str(trt.__version__), precision)


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


def engine_dir_for(folder: Path) -> Path:
    """Engines sit beside the ONNX files when that folder is writable, else in the per-user cache."""
    local = folder / "tensorrt"
    if os.access(folder, os.W_OK):
        return local
    import hashlib

    return cache_root() / "tensorrt" / hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]


class TensorRTBackend(Closing):
    """One engine and execution context per graph, with persistent device buffers."""

    def __init__(self, folder: str | Path, fp16: bool = True, reason: str = "",
                 engine_dir: str | Path | None = None) -> None:
        trt = import_tensorrt()
        import torch

        precision = "fp16" if fp16 else "fp32"
        target = current_target(trt, precision)
        folder = Path(folder)
        base_meta = read_export_meta(folder)
        problems = []
        for path in onnx_paths(folder).values():
            compat = check_tensorrt_compat(path, _version_tuple(trt.__version__))
            if not compat.ok:
                problems.append(compat.format())
        if problems:
            raise BackendUnavailable("the graphs use what TensorRT cannot run:\n" + "\n".join(problems))
        self.meta: ModelMeta = replace(base_meta, precision=precision)
        self.name = "tensorrt"
        self.reason = reason or f"TensorRT {trt.__version__} on {target.gpu}, {precision}"
        self.built: dict[str, bool] = {}
        self._torch = torch
        self._stream = torch.cuda.Stream()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engines: dict[str, object] = {}
        self._contexts: dict[str, object] = {}
        self._buffers: dict[str, dict[str, torch.Tensor]] = {}
        engines = Path(engine_dir) if engine_dir else engine_dir_for(folder)
        timing = cache_root() / "tensorrt" / timing_cache_name(target)
        for graph, onnx_path in onnx_paths(folder).items():
            path, built = ensure_engine(
                onnx_path, engines, graph, target, read_onnx_metadata(onnx_path),
                lambda p, prec: build_engine(trt, p, prec, timing),
            )
            self.built[graph] = built
            _, payload = read_engine(path)
            engine = self._runtime.deserialize_cuda_engine(payload)
            if engine is None:
                raise ReenactError("TensorRT cannot load this engine (damaged, or built elsewhere)", path)
            self._engines[graph] = engine
            self._contexts[graph] = engine.create_execution_context()
            self._buffers[graph] = self._allocate(trt, engine)

    def _allocate(self, trt: ModuleType, engine: object) -> dict[str, object]:
        torch = self._torch
        buffers = {}
        for i in range(engine.num_io_tensors):  # type: ignore[attr-defined]
            name = engine.get_tensor_name(i)  # type: ignore[attr-defined]
            shape = tuple(engine.get_tensor_shape(name))  # type: ignore[attr-defined]
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype  # type: ignore[attr-defined]
            buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
        return buffers

    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        if not self._contexts:
            raise RuntimeError("backend is closed")
        check_feeds(self.meta, graph, feeds)
        torch = self._torch
        context, buffers = self._contexts[graph], self._buffers[graph]
        with torch.cuda.stream(self._stream):
            for name in self.meta.inputs(graph):
                buf = buffers[name]
                src = torch.from_numpy(np.ascontiguousarray(feeds[name], dtype=np.float32))
                if tuple(src.shape) != tuple(buf.shape):
                    raise ValueError(f"graph {graph!r} input {name!r}: shape {tuple(src.shape)}, expected {tuple(buf.shape)}")
                buf.copy_(src.to(buf.dtype), non_blocking=False)
            for name, buf in buffers.items():
                context.set_tensor_address(name, buf.data_ptr())  # type: ignore[attr-defined]
            if not context.execute_async_v3(self._stream.cuda_stream):  # type: ignore[attr-defined]
                raise RuntimeError(f"TensorRT failed to run the {graph} graph")
            outs = {n: buffers[n].float().cpu().numpy() for n in self.meta.outputs(graph)}
        self._stream.synchronize()
        return outs

    def close(self) -> None:
        self._contexts.clear()
        self._engines.clear()
        self._buffers.clear()


def _version_tuple(version: str) -> tuple[int, int]:
    parts = [int(p) for p in str(version).split(".")[:2] if p.isdigit()]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]
