"""TensorRT backend (TensorRT 10 Python API): loads the engines built for this GPU from an export folder.

Engines are built by reenact.export (`reenact export --tensorrt`, or the per-user cache on first use), never
here: loading only finds the engine whose header matches this machine and these ONNX graphs
(backends.trt_engine_file) and deserializes it. Written against the documented TensorRT 10 API (named I/O tensors
with `set_tensor_address` / `execute_async_v3`). Device memory and the stream come from PyTorch's CUDA runtime,
so no pycuda is needed and nothing touches the GPU at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from reenact.engine.backends.artifacts import engine_dir_for, onnx_paths, read_export_meta, read_onnx_metadata
from reenact.engine.backends.base import BackendUnavailable
from reenact.engine.backends.cache import file_sha256
from reenact.engine.backends.facade import Arrays, ModelBackend
from reenact.engine.backends.formats import FORMATS, BackendSpec
from reenact.engine.backends.trt_engine_file import (
    EngineHeader,
    TrtTarget,
    engine_path,
    read_engine,
    stale_reason,
)
from reenact.engine.errors import ReenactError


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


def expected_engines(folder: Path, target: TrtTarget, engine_dir: Path | None = None) -> dict[str, tuple[Path, EngineHeader]]:
    """Per graph: where its engine for `target` lies, and the header it must carry."""
    engines = Path(engine_dir) if engine_dir else engine_dir_for(folder)
    out = {}
    for graph, onnx_path in onnx_paths(folder).items():
        digest = file_sha256(onnx_path)
        header = EngineHeader.for_target(graph, digest, target, read_onnx_metadata(onnx_path))
        out[graph] = (engine_path(engines, graph, target, digest), header)
    return out


def engine_problem(path: Path, expected: EngineHeader) -> str | None:
    """Why the engine at `path` cannot be loaded for `expected` (missing, or built for another machine or ONNX
    file), or None when it is the right one; reads the header only."""
    if not path.is_file():
        return f"needs a TensorRT engine for this GPU at {path} (built by `{FORMATS['tensorrt'].made_by}`, or on first use)"
    found, _ = read_engine(path, payload=False)
    stale = stale_reason(found, expected)
    return None if stale is None else f"cannot load the TensorRT engine {path}: {stale}"


def engines_ready(folder: Path, precision: str, engine_dir: Path | None = None) -> bool:
    """Whether both graphs of `folder` have a current engine for this GPU (the exporter asks before building)."""
    target = current_target(import_tensorrt(), precision)
    return all(engine_problem(p, e) is None for p, e in expected_engines(folder, target, engine_dir).values())


class TensorRTBackend(ModelBackend):
    """One engine and execution context per graph, with persistent device buffers."""

    name = "tensorrt"

    def __init__(self, folder: str | Path, fp16: bool = True, reason: str = "",
                 engine_dir: str | Path | None = None) -> None:
        trt = import_tensorrt()
        import torch

        precision = "fp16" if fp16 else "fp32"
        target = current_target(trt, precision)
        folder = Path(folder)
        meta = replace(read_export_meta(folder), precision=precision)
        self._torch = torch
        self._stream = torch.cuda.Stream()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engines: dict[str, object] = {}
        self._contexts: dict[str, object] = {}
        self._buffers: dict[str, dict[str, torch.Tensor]] = {}
        for graph, (path, expected) in expected_engines(folder, target, engine_dir).items():
            problem = engine_problem(path, expected)
            if problem is not None:
                raise BackendUnavailable(problem)
            _, payload = read_engine(path)
            engine = self._runtime.deserialize_cuda_engine(payload)
            if engine is None:
                raise ReenactError("TensorRT cannot load this engine (damaged, or built elsewhere)", path)
            self._engines[graph] = engine
            self._contexts[graph] = engine.create_execution_context()
            self._buffers[graph] = self._allocate(trt, engine)
        shapes = {g: {n: tuple(b.shape) for n, b in bufs.items() if n in meta.inputs(g)}
                  for g, bufs in self._buffers.items()}
        super().__init__(meta, reason or f"TensorRT {trt.__version__} on {target.gpu}, {precision}", shapes)

    def _allocate(self, trt: ModuleType, engine: object) -> dict[str, object]:
        torch = self._torch
        buffers = {}
        for i in range(engine.num_io_tensors):  # type: ignore[attr-defined]
            name = engine.get_tensor_name(i)  # type: ignore[attr-defined]
            shape = tuple(engine.get_tensor_shape(name))  # type: ignore[attr-defined]
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype  # type: ignore[attr-defined]
            buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
        return buffers

    def _compute(self, graph: str, inputs: Arrays) -> Sequence[NDArray[np.float32]]:
        torch = self._torch
        context, buffers = self._contexts[graph], self._buffers[graph]
        with torch.cuda.stream(self._stream):
            for name, array in inputs.items():
                buffers[name].copy_(torch.from_numpy(array).to(buffers[name].dtype), non_blocking=False)
            for name, buf in buffers.items():
                context.set_tensor_address(name, buf.data_ptr())  # type: ignore[attr-defined]
            if not context.execute_async_v3(self._stream.cuda_stream):  # type: ignore[attr-defined]
                raise RuntimeError(f"TensorRT failed to run the {graph} graph")
            outs = [buffers[n].float().cpu().numpy() for n in self.meta.outputs(graph)]
        self._stream.synchronize()
        return outs

    def _release(self) -> None:
        self._contexts.clear()
        self._engines.clear()
        self._buffers.clear()


def probe(spec: BackendSpec, precision: str) -> None:
    current_target(import_tensorrt(), precision)  # the module and a GPU, before anything is exported or built


def open_backend(artifact: Path, spec: BackendSpec, precision: str, reason: str) -> TensorRTBackend:
    return TensorRTBackend(artifact, fp16=precision == "fp16", reason=reason)
