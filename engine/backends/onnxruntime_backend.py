"""ONNX Runtime backend: the exported graphs on CPU, or on CUDA when onnxruntime-gpu and a GPU are present.

Everything about the model (input size, landmark subset, input and output names, precision) comes from the
files' reenact metadata (backends.artifacts); a file without it, or one that is not ONNX, is refused with one line
naming it. The session settings are `session_options`, one function, so they can be tuned in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reenact.engine.backends.artifacts import is_export_folder, onnx_paths, read_export_meta
from reenact.engine.backends.base import BackendUnavailable
from reenact.engine.backends.facade import Arrays, ModelBackend
from reenact.engine.backends.formats import BackendSpec
from reenact.engine.errors import ReenactError, first_line

DEVICES = ("cpu", "cuda")

__all__ = ["DEVICES", "OnnxRuntimeBackend", "import_onnxruntime", "read_export_meta", "session_options"]


def session_options(threads: int | None = None) -> object:
    """CPU settings that matter on small machines: denormals flushed, one intra-op thread unless told otherwise,
    all graph rewrites.

    One thread: the app's stages run on threads of their own (app.runner), so the other cores already have the
    landmarks, the paste-back and the output of other frames to do; splitting the network's few milliseconds over
    two threads only added their hand-overs (2 idle cores, `reenact bench`: 50.7 against 45.4 fps, 33.7 against
    38.1 ms of CPU per frame), and on a shared machine a parallel op waits for its slowest thread. Idle pool
    threads sleep instead of spinning: a spinning thread holds a core the landmarks, the paste-back and the user's
    call app need.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: the CUDA provider's fallback notes are handled here
    return opts


def import_onnxruntime(device: str = "cpu") -> object:
    """The onnxruntime module, with its CUDA provider when `device` is "cuda"; BackendUnavailable says what is
    missing (asked before anything is exported or opened)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendUnavailable("onnxruntime has no CUDA provider (the CPU build is installed; onnxruntime-gpu has it)")
    return ort


class OnnxRuntimeBackend(ModelBackend):
    """Two InferenceSessions, one per graph."""

    def __init__(self, folder: str | Path, device: str = "cpu", reason: str = "", threads: int | None = None) -> None:
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}")
        ort = import_onnxruntime(device)
        folder = Path(folder)
        if not is_export_folder(folder):
            raise ReenactError("not a reenact export folder (needs encoder.onnx and frame.onnx)", folder)
        providers: list = ["CPUExecutionProvider"]
        if device == "cuda":
            providers = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
        meta = read_export_meta(folder)
        self.name = f"onnxruntime-{device}"
        self._sessions: dict[str, object] = {}
        opts = session_options(threads)
        for graph, path in onnx_paths(folder).items():
            try:
                session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
            except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types for bad files
                raise ReenactError(f"ONNX Runtime cannot load this model ({first_line(exc)})", path) from None
            if device == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
                raise BackendUnavailable("the ONNX Runtime CUDA provider did not start (no usable GPU)")
            names = tuple(i.name for i in session.get_inputs())
            if set(names) != set(meta.inputs(graph)):
                raise ReenactError(f"graph inputs {names} do not match its metadata {meta.inputs(graph)}", path)
            self._sessions[graph] = session
        self.input_shapes = {
            graph: {i.name: tuple(i.shape) for i in s.get_inputs()}  # type: ignore[attr-defined]
            for graph, s in self._sessions.items()
        }
        super().__init__(meta, reason or f"{device} requested", self.input_shapes)

    def _compute(self, graph: str, inputs: Arrays) -> Sequence[NDArray[np.float32]]:
        return self._sessions[graph].run(list(self.meta.outputs(graph)), inputs)  # type: ignore[attr-defined]

    def _release(self) -> None:
        self._sessions = {}


def probe(spec: BackendSpec, precision: str) -> None:
    import_onnxruntime(spec.device)
    if spec.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailable("no CUDA GPU is available")


def open_backend(artifact: Path, spec: BackendSpec, precision: str, reason: str) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(artifact, device=spec.device, reason=reason)
