"""What the command line asks for before the engine loads a model: the artifact a backend reads, made if need be.

`prepare(format, weights, precision)` turns a checkpoint into an export folder (export.cache, checked against
PyTorch on random and real inputs) and an export folder into one with TensorRT engines for this GPU (built and
checked once, then found by the loader). `open_backend` is the whole sequence: this module makes the artifact,
engine.backends.load_backend opens it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from reenact.engine.backends.artifacts import find_artifact
from reenact.engine.backends.base import Backend, BackendUnavailable
from reenact.engine.backends.formats import FORMATS
from reenact.engine.backends.loader import as_is, load_backend

log = logging.getLogger(__name__)


def prepare(fmt: str, weights: Path, precision: str = "fp32") -> Path:
    """An artifact of `fmt` made from `weights` (a checkpoint or an export folder), cached for the next run."""
    artifact = find_artifact(weights)
    if fmt == "checkpoint" or artifact.format == fmt and fmt != "tensorrt":
        return as_is(fmt, weights, precision)
    if fmt == "onnx":
        from reenact.export.cache import cached_int8, cached_onnx

        return cached_int8(artifact.path) if precision == "int8" else cached_onnx(artifact.path)
    if fmt == "tensorrt":
        folder = prepare("onnx", weights, precision)
        _ensure_engines(folder, artifact.path if artifact.format == "checkpoint" else None, precision)
        return folder
    raise KeyError(f"unknown artifact format {fmt!r}; formats are {', '.join(FORMATS)}")


def _ensure_engines(folder: Path, checkpoint: Path | None, precision: str) -> None:
    """Engines for this GPU beside `folder`'s graphs, checked against PyTorch (or, for an export folder given
    alone, against ONNX Runtime on its fp32 graphs) the first time they are built."""
    from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from reenact.engine.backends.tensorrt_backend import engines_ready
    from reenact.export.exporter import Exporter, build_checked_engines
    from reenact.export.parity import parity_cases

    if engines_ready(folder, precision):  # built and current: nothing to do
        return
    if checkpoint is not None:
        with Exporter(checkpoint, say=log.info) as exporter:
            report = exporter.tensorrt(folder, precision)
    else:
        baseline = OnnxRuntimeBackend(folder)
        try:
            report = build_checked_engines(folder, precision, baseline, parity_cases(baseline), log.info)
        finally:
            baseline.close()
    if not report.ok:
        raise BackendUnavailable(f"cannot use its engines: they do not match the graphs ({report.first_failure()})")


def open_backend(kind: str, weights: str | Path, *, precision: str = "auto") -> Backend:
    """The backend `kind` on `weights`, whatever format they are in, in `precision` where it can ("auto": each
    backend's own): the artifact it reads is made (and cached) here first. What "auto" skips and why is in the
    backend's `reason`."""
    return load_backend(kind, weights, precision=precision, prepare=prepare)
