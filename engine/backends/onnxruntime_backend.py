"""ONNX Runtime backend: the exported graphs on CPU, or on CUDA when onnxruntime-gpu and a GPU are present.

Everything about the model (input size, landmark subset, input and output names, precision) comes from the
files' reenact metadata; a file without it, or one that is not ONNX, is refused with one line naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reenact.engine.backends.base import META_PREFIX, BackendUnavailable, Closing, ModelMeta, check_feeds
from reenact.engine.backends.onnx_export import is_export_folder, onnx_paths, read_onnx_metadata
from reenact.engine.errors import ReenactError, first_line
from reenact.engine.runtime import cpu_threads

DEVICES = ("cpu", "cuda")


def session_options(threads: int | None = None) -> object:
    """CPU settings that matter on small machines: denormals flushed, threads = usable cores, all graph rewrites.

    Idle pool threads sleep instead of spinning: a spinning thread holds a core the landmarks, the paste-back and
    the user's call app need, and on a shared machine it made the two-thread pool slower than one thread.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or cpu_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: the CUDA provider's fallback notes are handled here
    return opts


def read_export_meta(folder: str | Path) -> ModelMeta:
    """The ModelMeta of an export folder; both graphs must carry the same model's metadata."""
    paths = onnx_paths(folder)
    metas: dict[str, ModelMeta] = {}
    props: dict[str, dict[str, str]] = {}
    for graph, path in paths.items():
        props[graph] = read_onnx_metadata(path)
        metas[graph] = ModelMeta.from_metadata(props[graph], path)
        if props[graph].get(META_PREFIX + "graph") != graph:
            raise ReenactError(f"holds the {props[graph].get(META_PREFIX + 'graph')!r} graph, not {graph!r}", path)
    same = ("checkpoint_sha256", "model_config", "export_format")
    if metas["encoder"] != metas["frame"] or any(
        props["encoder"].get(META_PREFIX + k) != props["frame"].get(META_PREFIX + k) for k in same
    ):
        raise ReenactError("encoder.onnx and frame.onnx come from different exports", Path(folder))
    return metas["encoder"]


def import_onnxruntime(device: str = "cpu") -> object:
    """The onnxruntime module, with its CUDA provider when `device` is "cuda"; BackendUnavailable says what is
    missing (the loader asks before exporting anything, the backend before opening sessions)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendUnavailable("onnxruntime has no CUDA provider (the CPU build is installed; onnxruntime-gpu has it)")
    return ort


class OnnxRuntimeBackend(Closing):
    """Two InferenceSessions, one per graph."""

    def __init__(self, folder: str | Path, device: str = "cpu", reason: str = "", threads: int | None = None) -> None:
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}")
        ort = import_onnxruntime()
        folder = Path(folder)
        if not is_export_folder(folder):
            raise ReenactError("not a reenact export folder (needs encoder.onnx and frame.onnx)", folder)
        providers: list = ["CPUExecutionProvider"]
        if device == "cuda":
            import_onnxruntime("cuda")
            providers = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
        self.meta = read_export_meta(folder)
        self.name = f"onnxruntime-{device}"
        self.reason = reason or f"{device} requested"
        self._sessions: dict[str, object] = {}
        opts = session_options(threads)
        for graph, path in onnx_paths(folder).items():
            try:
                session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
            except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types for bad files
                self.close()
                raise ReenactError(f"ONNX Runtime cannot load this model ({first_line(exc)})", path) from None
            if device == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
                self.close()
                raise BackendUnavailable("the ONNX Runtime CUDA provider did not start (no usable GPU)")
            names = tuple(i.name for i in session.get_inputs())
            if set(names) != set(self.meta.inputs(graph)):
                self.close()
                raise ReenactError(f"graph inputs {names} do not match its metadata {self.meta.inputs(graph)}", path)
            self._sessions[graph] = session
        self.input_shapes = {
            graph: {i.name: tuple(i.shape) for i in s.get_inputs()}  # type: ignore[attr-defined]
            for graph, s in self._sessions.items()
        }

    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        if not self._sessions:
            raise RuntimeError("backend is closed")
        check_feeds(self.meta, graph, feeds)
        shapes = self.input_shapes[graph]
        inputs = {}
        for name in self.meta.inputs(graph):
            array = np.ascontiguousarray(feeds[name], dtype=np.float32)
            if array.shape != shapes[name]:
                raise ValueError(f"graph {graph!r} input {name!r}: shape {array.shape}, expected {shapes[name]}")
            inputs[name] = array
        outputs = self.meta.outputs(graph)
        results = self._sessions[graph].run(list(outputs), inputs)  # type: ignore[attr-defined]
        return dict(zip(outputs, results, strict=True))

    def close(self) -> None:
        self._sessions = {}
