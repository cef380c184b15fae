"""The export job: write the graphs to a temporary folder, prove them against PyTorch, then move them into place.

Nothing reaches `--out` unless the fp32 graphs pass their parity check (and, with `--tensorrt`, the operator check
and the engines' own parity check): a failed export leaves no files behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reenact.engine.errors import ReenactError

if TYPE_CHECKING:
    from reenact.engine.backends.base import Backend
    from reenact.engine.backends.parity import ParityCase


@dataclass(frozen=True, slots=True)
class ExportOptions:
    checkpoint: Path
    out: Path
    tensorrt: bool = False
    fp16: bool = False
    int8: bool = False
    real_inputs: bool = True  # also check on the pipeline's own inputs (bundled avatar and clip)
    overwrite: bool = False


@dataclass(slots=True)
class ExportSummary:
    out: Path
    files: list[Path] = field(default_factory=list)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ReenactError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ReenactError("output folder is not empty (use --overwrite to replace it)", out)


def _move_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_export(opts: ExportOptions, say: Callable[[str], None] = print) -> ExportSummary:
    from reenact.engine.backends.cache import file_sha256
    from reenact.engine.backends.onnx_export import OPSET, export_onnx, onnx_paths
    from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from reenact.engine.backends.parity import compare, parity_cases
    from reenact.engine.backends.torch_backend import TorchBackend
    from reenact.engine.backends.trt_support import check_tensorrt_compat
    from reenact.engine.model.checkpoint import load_checkpoint

    ckpt = load_checkpoint(opts.checkpoint)
    out = opts.out
    _check_out(out, opts.overwrite)
    if opts.fp16 and not opts.tensorrt:
        raise ReenactError("--fp16 applies to TensorRT engines; add --tensorrt")
    if opts.tensorrt:  # fail before any work when TensorRT cannot run here
        from reenact.engine.backends.tensorrt_backend import current_target, import_tensorrt

        current_target(import_tensorrt(), "fp16" if opts.fp16 else "fp32")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    summary = ExportSummary(out)
    reference = None
    try:
        export_onnx(ckpt, tmp, checkpoint_sha256=file_sha256(opts.checkpoint))
        say(f"exported {opts.checkpoint} → encoder.onnx, frame.onnx (opset {OPSET}, static shapes, "
            f"{ckpt.model_config.size}×{ckpt.model_config.size}, batch 1)")
        # PyTorch fp32 and its inputs, made once: the fp32 graphs, the int8 variant and TensorRT are all compared to it.
        reference = TorchBackend(ckpt)
        cases = parity_cases(reference, opts.real_inputs)
        fp32 = OnnxRuntimeBackend(tmp)
        try:
            report = compare(reference, fp32, cases)
        finally:
            fp32.close()
        say(report.format())
        (tmp / "parity.txt").write_text(report.format() + "\n", encoding="utf-8")
        if not report.ok:
            raise ReenactError(f"ONNX export does not match PyTorch: {report.first_failure()}", opts.checkpoint)
        compat = [check_tensorrt_compat(p) for p in onnx_paths(tmp).values()]
        for c in compat:
            say(c.format().replace(str(tmp), str(out)))
        if opts.int8:
            _int8(reference, cases, tmp, say)
        if opts.tensorrt:
            if not all(c.ok for c in compat):
                raise ReenactError("the graphs cannot be built with TensorRT (see the operator check above)")
            _tensorrt(reference, cases, tmp, opts.fp16, say)
        _move_into_place(tmp, out)
    finally:
        if reference is not None:
            reference.close()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    summary.files = sorted(p for p in out.rglob("*") if p.is_file())
    return summary


def _int8(reference: Backend, cases: list[ParityCase], folder: Path, say: Callable[[str], None]) -> bool:
    from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from reenact.engine.backends.parity import compare
    from reenact.export.quantize import measure_quality, quantize_export

    int8_dir = folder / "int8"
    quantize_export(folder, int8_dir)
    fp32, int8 = OnnxRuntimeBackend(folder), OnnxRuntimeBackend(int8_dir)
    try:
        report = compare(reference, int8, cases)
        say(report.format())
        quality_case = cases[-1]
        q32, q8 = measure_quality(reference, fp32, quality_case), measure_quality(reference, int8, quality_case)
    finally:
        for b in (fp32, int8):
            b.close()
    say(f"int8 vs fp32 on {quality_case.label} inputs (image vs PyTorch fp32, end to end): "
        f"fp32 PSNR {q32.psnr_db:.1f} dB, mean abs {q32.mean_abs:.2e}, frame graph {q32.frame_ms:.1f} ms; "
        f"int8 PSNR {q8.psnr_db:.1f} dB, mean abs {q8.mean_abs:.2e}, frame graph {q8.frame_ms:.1f} ms")
    if not report.ok:
        shutil.rmtree(int8_dir, ignore_errors=True)
        say("int8 variant NOT kept: it does not hold its tolerance")
        return False
    say("int8 variant kept in int8/ (use --weights OUT/int8 --backend onnxruntime)")
    return True


def _tensorrt(reference: Backend, cases: list[ParityCase], folder: Path, fp16: bool, say: Callable[[str], None]
              ) -> None:
    from reenact.engine.backends.parity import compare
    from reenact.engine.backends.tensorrt_backend import TensorRTBackend

    engine = TensorRTBackend(folder, fp16=fp16, engine_dir=folder / "tensorrt")
    try:
        report = compare(reference, engine, cases)
    finally:
        engine.close()
    say(f"TensorRT engines ({engine.reason}) in tensorrt/")
    say(report.format())
    if not report.ok:
        raise ReenactError(f"TensorRT engine does not match PyTorch: {report.first_failure()}")
