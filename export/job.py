"""The export job: write the graphs to a temporary folder, prove them against PyTorch, then move them into place.

Nothing reaches `--out` unless the fp32 graphs pass their parity check (and, with `--tensorrt`, the operator check
and the engines' own parity check): a failed export leaves no files behind. The folder may hold other files (even
`--out .`): only the names an export writes are ever replaced, and only with --overwrite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reenact.engine.atomic import temp_dir_beside
from reenact.engine.errors import ReenactError

if TYPE_CHECKING:
    from reenact.engine.backends.base import Backend
    from reenact.engine.backends.parity import ParityCase


PARITY_FILE, INT8_DIR, TENSORRT_DIR = "parity.txt", "int8", "tensorrt"


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


def export_names() -> tuple[str, ...]:
    """Every name an export may write in its folder: what --overwrite replaces, and nothing else there."""
    from reenact.engine.backends.onnx_export import GRAPH_FILES

    return (*GRAPH_FILES.values(), PARITY_FILE, INT8_DIR, TENSORRT_DIR)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ReenactError("exists and is not a folder", out)
    taken = [name for name in export_names() if os.path.lexists(out / name)]
    if taken and not overwrite:
        raise ReenactError(f"holds an earlier export ({', '.join(taken)}); use --overwrite to replace those "
                           "(other files in the folder are left alone)", out)


def _keep_aside(tmp: Path, out: Path, taken: list[str]) -> None:
    """An earlier export appeared in `out` while this one ran: keep both, the new one in a visible folder."""
    for n in range(1, 1000):
        kept = out / f"reenact-export-{n}"
        if not os.path.lexists(kept):
            os.rename(tmp, kept)
            raise ReenactError(f"an export ({', '.join(taken)}) appeared in this folder while exporting and was not "
                               f"replaced; the new export is in {kept} (pass --overwrite to replace)", out)
    raise ReenactError(f"an export ({', '.join(taken)}) appeared in this folder while exporting", out)


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> list[Path]:
    """Swap the new export's entries in for an earlier export's, leaving everything else in `out` as it is.

    All of an earlier export goes, also what this one does not write (an int8/ of other weights must not stay
    next to new graphs); the user's own files in the folder are never touched.
    """
    taken = [name for name in export_names() if os.path.lexists(out / name)]
    if taken and not overwrite:  # checked before the work too; this is the moment that counts
        _keep_aside(tmp, out, taken)
    replaced = Path(tempfile.mkdtemp(prefix=".reenact-replaced.", dir=out))
    for name in export_names():
        if os.path.lexists(out / name):
            os.rename(out / name, replaced / name)
    written = []
    for entry in sorted(tmp.iterdir()):
        os.rename(entry, out / entry.name)
        written.append(out / entry.name)
    shutil.rmtree(replaced, ignore_errors=True)
    return written


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
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out, inside=True)  # inside: `--out .` works, and the final renames stay on one disk
    summary = ExportSummary(out)
    reference = None
    done = False
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
        (tmp / PARITY_FILE).write_text(report.format() + "\n", encoding="utf-8")
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
        written = _move_into_place(tmp, out, opts.overwrite)
        done = True
    finally:
        if reference is not None:
            reference.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):  # made by this run; rmdir, so nothing put there meanwhile is lost
                out.rmdir()
    summary.files = sorted(f for p in written for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    return summary


def _int8(reference: Backend, cases: list[ParityCase], folder: Path, say: Callable[[str], None]) -> bool:
    from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from reenact.engine.backends.parity import compare
    from reenact.export.quantize import measure_quality, quantize_export

    int8_dir = folder / INT8_DIR
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

    engine = TensorRTBackend(folder, fp16=fp16, engine_dir=folder / TENSORRT_DIR)
    try:
        report = compare(reference, engine, cases)
    finally:
        engine.close()
    say(f"TensorRT engines ({engine.reason}) in tensorrt/")
    say(report.format())
    if not report.ok:
        raise ReenactError(f"TensorRT engine does not match PyTorch: {report.first_failure()}")
