"""Open a model artifact on a backend by name, or on the fastest that works here with "auto", and say why.

The loader only loads. Each backend is a row of the one table (backends.formats.BACKENDS) naming the artifact
format it reads, a probe (can it run here?) and an opener; there is no per-backend branch here. An artifact in
another format than a backend reads (a checkpoint for ONNX Runtime, ONNX graphs without engines for TensorRT) is
made by reenact.export, never by the engine: a caller that wants that passes `prepare`
(`reenact.export.artifacts.open_backend` does, and every front end calls that). Without one, such a backend is
unavailable and says how to make its artifact.

"auto" tries tensorrt → onnxruntime-cuda → onnxruntime (CPU) → torch; the backend it returns carries a `reason`
naming what it skipped and why. A broken file stops the search with its own error: falling back would hide it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from reenact.engine.backends.artifacts import find_artifact, weights_artifact
from reenact.engine.backends.base import Backend, BackendUnavailable
from reenact.engine.backends.formats import (
    ALIASES,
    AUTO_ORDER,
    FORMATS,
    KINDS,
    BackendSpec,
    candidates,
    precision_for,
    resolve_kind,
)
from reenact.engine.errors import ReenactError

log = logging.getLogger(__name__)

# (format, weights, precision) → the path of an artifact in that format made from `weights`; raises
# BackendUnavailable when it cannot be made here, its message a predicate that follows the backend's name
# ("needs ...", "cannot use ...").
Prepare = Callable[[str, Path, str], Path]

__all__ = ["ALIASES", "AUTO_ORDER", "KINDS", "Prepare", "as_is", "gpu_backend", "load_backend", "resolve_kind",
           "weights_artifact"]


def as_is(fmt: str, weights: Path, precision: str) -> Path:
    """`weights` itself when it already is an artifact of `fmt` (engines are looked for in an export folder)."""
    artifact = find_artifact(weights)
    if artifact.format == fmt or (fmt == "tensorrt" and artifact.format == "onnx"):
        return artifact.path
    wanted = FORMATS[fmt]
    raise BackendUnavailable(f"needs {wanted.holds}, and {weights.name} is {FORMATS[artifact.format].holds}; "
                             f"make one with `{wanted.made_by}`")


def _call(target: str) -> Callable:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def _open(row: BackendSpec, weights: Path, precision: str, reason: str, prepare: Prepare) -> Backend:
    _call(row.probe)(row, precision)  # can it run here at all: before anything is exported or built
    try:
        artifact = prepare(row.format, weights, precision)
    except BackendUnavailable as exc:  # phrased to follow the backend's name: "needs ...", "cannot ..."
        raise BackendUnavailable(f"{row.kind} {exc}") from None
    return _call(row.opener)(artifact, row, precision, reason)


def gpu_backend() -> str | None:
    """The fastest GPU backend whose probe passes here (what "auto" would run the network on), or None: asked
    before any weights are exported or loaded, so a machine without a GPU costs nothing to ask."""
    for row in candidates("auto"):
        if row.device != "cuda":
            continue
        try:
            _call(row.probe)(row, "fp32")
        except (BackendUnavailable, ImportError, OSError, RuntimeError) as exc:
            log.debug("no GPU backend %s: %s", row.kind, exc)
            continue
        return row.kind
    return None


def load_backend(kind: str, weights: str | Path, *, precision: str = "auto", prepare: Prepare | None = None
                 ) -> Backend:
    """Open `weights` on backend `kind` ("auto", "tensorrt", "onnxruntime-cuda", "onnxruntime", "torch", ...).

    `precision` applies to backends that can compute in it (fp16: TensorRT, torch on CUDA; int8: ONNX Runtime on
    CPU); the others, and "auto", use each backend's own default (`formats.precision_for`). `prepare` makes the artifact a
    backend reads from `weights` (see the module's docstring). The returned backend's `reason` says why it was
    chosen; under "auto" it also lists each faster backend that was skipped and why.
    """
    rows = candidates(kind)
    weights = Path(weights)
    find_artifact(weights)  # a missing or malformed path is reported as itself, whatever the backend
    prepare = prepare or as_is
    chosen = resolve_kind(kind)
    skipped: list[str] = []
    for row in rows:
        if chosen == "auto":
            skip_text = "; ".join(skipped)
            reason = f"auto: fastest available{' (skipped ' + skip_text + ')' if skipped else ''}"
        else:
            reason = f"{chosen} requested"
        try:
            backend = _open(row, weights, precision_for(row, precision), reason, prepare)
        except BackendUnavailable as exc:
            if len(rows) == 1:
                raise
            text = str(exc)
            skipped.append(text if text.startswith(row.kind + " ") else f"{row.kind}: {text}")
            log.info("backend %s skipped: %s", row.kind, exc)
            continue
        log.info("backend %s chosen; %s", backend.name, reason)
        return backend
    if chosen != "auto" and len(rows) > 1:
        raise BackendUnavailable("; ".join(skipped))
    raise ReenactError("no backend can run this model here: " + "; ".join(skipped), weights)
