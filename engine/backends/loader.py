"""Pick a backend by name, or the fastest that works here with "auto", and say why.

`weights` is a reenact checkpoint (.pt) or an export folder (encoder.onnx + frame.onnx, from `reenact export`).
A checkpoint given to an ONNX-based backend is exported on first use into the per-user cache (parity-checked
against PyTorch) and reused afterwards. An export folder cannot run on torch (it has no PyTorch weights).

"auto" tries tensorrt → onnxruntime-cuda → onnxruntime (CPU) → torch; the backend it returns carries a `reason`
naming what it skipped and why. A broken file stops the search with its own error: falling back would hide it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from reenact.engine.backends.base import Backend, BackendUnavailable
from reenact.engine.backends.onnx_export import GRAPH_FILES, cached_onnx, is_export_folder
from reenact.engine.errors import ReenactError

log = logging.getLogger(__name__)

AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "onnxruntime", "torch")
KINDS = ("auto", *AUTO_ORDER, "torch-cpu", "torch-cuda")
ALIASES = {"onnxruntime-cpu": "onnxruntime", "ort": "onnxruntime", "trt": "tensorrt"}


def weights_artifact(weights: Path) -> str:
    """What `weights` holds ("onnx" folder, "onnx-file", "checkpoint"), or the one-line error for a path that can
    hold no weights: callers check it before any slow setup."""
    if weights.is_dir():
        if not is_export_folder(weights):
            raise ReenactError("is a folder, expected a checkpoint file or an export folder (with "
                               f"{' and '.join(GRAPH_FILES.values())})", weights)
        return "onnx"
    if weights.suffix == ".onnx" and weights.is_file():
        return "onnx-file"
    if not weights.exists():
        raise ReenactError("model weights not found", weights)
    return "checkpoint"


def _onnx_folder(weights: Path, kind: str) -> Path:
    artifact = weights_artifact(weights)
    if artifact == "onnx":
        return weights
    if artifact == "onnx-file":
        if not is_export_folder(weights.parent):
            raise ReenactError(f"{kind} needs the whole export folder ({' and '.join(GRAPH_FILES.values())})",
                               weights)
        return weights.parent
    return cached_onnx(weights)


def _torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _load_one(kind: str, weights: Path, reason: str, fp16: bool) -> Backend:
    if kind in ("torch", "torch-cpu", "torch-cuda"):
        if weights_artifact(weights) != "checkpoint":
            raise BackendUnavailable("torch needs a checkpoint (.pt); an ONNX export holds no PyTorch weights")
        from reenact.engine.backends.torch_backend import TorchBackend

        cuda = kind == "torch-cuda" or (kind == "torch" and _torch_cuda_available())
        if kind == "torch-cuda" and not _torch_cuda_available():
            raise BackendUnavailable("torch has no CUDA device here")
        return TorchBackend(weights, device="cuda" if cuda else "cpu", half=cuda and fp16, reason=reason)
    if kind in ("onnxruntime", "onnxruntime-cuda"):
        from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend

        device = "cuda" if kind == "onnxruntime-cuda" else "cpu"
        if device == "cuda":  # find out before exporting anything
            _require_ort_cuda()
        return OnnxRuntimeBackend(_onnx_folder(weights, kind), device=device, reason=reason)
    if kind == "tensorrt":
        from reenact.engine.backends.tensorrt_backend import TensorRTBackend, current_target, import_tensorrt

        current_target(import_tensorrt(), "fp16" if fp16 else "fp32")  # module and GPU, before exporting
        return TensorRTBackend(_onnx_folder(weights, kind), fp16=fp16, reason=reason)
    raise ReenactError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")


def _require_ort_cuda() -> None:
    from reenact.engine.backends.onnxruntime_backend import import_onnxruntime

    import_onnxruntime("cuda")
    if not _torch_cuda_available():
        raise BackendUnavailable("no CUDA GPU is available")


def resolve_kind(kind: str) -> str:
    """The backend name behind an alias; an unknown one is the user's mistake (one line, the choices listed)."""
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ReenactError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


def load_backend(kind: str, weights: str | Path, *, fp16: bool = False) -> Backend:
    """Load `weights` on backend `kind` ("auto", "tensorrt", "onnxruntime-cuda", "onnxruntime", "torch", ...).

    `fp16` applies to GPU backends (TensorRT, torch on CUDA). The returned backend's `reason` says why it was
    chosen; under "auto" it also lists each faster backend that was skipped and why.
    """
    kind = resolve_kind(kind)
    weights = Path(weights)
    weights_artifact(weights)  # a missing or malformed path is reported as itself, whatever the backend
    if kind != "auto":
        backend = _load_one(kind, weights, f"{kind} requested", fp16)
        log.info("backend %s: %s", backend.name, backend.reason)
        return backend
    skipped: list[str] = []
    for candidate in AUTO_ORDER:
        skip_text = "; ".join(skipped)
        reason = f"auto: fastest available{' (skipped ' + skip_text + ')' if skipped else ''}"
        try:
            backend = _load_one(candidate, weights, reason, fp16)
        except BackendUnavailable as exc:
            skipped.append(f"{candidate}: {exc}")
            log.info("backend %s skipped: %s", candidate, exc)
            continue
        log.info("backend %s chosen; %s", backend.name, reason)
        return backend
    raise ReenactError("no backend can run this model here: " + "; ".join(skipped), weights)
