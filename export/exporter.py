"""The one exporter: checkpoint → ONNX graphs proven against PyTorch → optional int8 variant and TensorRT engines.

`reenact export` and the per-user cache (export.cache, behind every backend that reads ONNX) both go through
`Exporter`, so both check the same way: random inputs and the pipeline's own (export.parity).

`run_export` is `reenact export`: it writes to a temporary folder and moves the result into place. Nothing reaches
`--out` unless the fp32 graphs pass their parity check (and, with `--tensorrt`, the operator check and the
engines' own parity check): a failed export leaves no files behind. The folder may hold other files (even
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
from reenact.engine.backends.artifacts import GRAPH_FILES, TENSORRT_DIR
from reenact.engine.errors import ReenactError

if TYPE_CHECKING:
    from reenact.engine.backends.base import Backend
    from reenact.export.parity import ParityCase, ParityReport


PARITY_FILE, INT8_DIR = "parity.txt", "int8"


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


class Exporter:
    """One checkpoint's exports. The PyTorch fp32 baseline and the parity inputs are made once, on first need,
    and every artifact (fp32 graphs, int8 variant, TensorRT engines) is compared with them."""

    def __init__(self, checkpoint: Path, *, real_inputs: bool = True, say: Callable[[str], None] = print) -> None:
        from reenact.engine.backends.cache import file_sha256
        from reenact.engine.model.checkpoint import load_checkpoint

        self.path = Path(checkpoint)
        self.checkpoint = load_checkpoint(self.path)
        self.sha256 = file_sha256(self.path)
        self.real_inputs = real_inputs
        self.say = say
        self._baseline: Backend | None = None
        self._cases: list[ParityCase] | None = None

    @property
    def baseline(self) -> Backend:
        if self._baseline is None:
            from reenact.engine.backends.torch_backend import TorchBackend

            self._baseline = TorchBackend(self.checkpoint)
        return self._baseline

    @property
    def cases(self) -> list[ParityCase]:
        if self._cases is None:
            from reenact.export.parity import parity_cases

            self._cases = parity_cases(self.baseline, self.real_inputs)
        return self._cases

    def check(self, candidate: Backend) -> ParityReport:
        """`candidate` against the baseline on every case; closes the candidate."""
        from reenact.export.parity import compare

        try:
            return compare(self.baseline, candidate, self.cases)
        finally:
            candidate.close()

    def onnx(self, folder: Path) -> ParityReport:
        """encoder.onnx and frame.onnx in `folder`, their parity report beside them (parity.txt)."""
        from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend
        from reenact.export.onnx_graphs import OPSET, export_onnx

        export_onnx(self.checkpoint, folder, checkpoint_sha256=self.sha256)
        size = self.checkpoint.model_config.size
        self.say(f"exported {self.path} → encoder.onnx, frame.onnx (opset {OPSET}, static shapes, {size}×{size}, "
                 "batch 1)")
        report = self.check(OnnxRuntimeBackend(folder))
        self.say(report.format())
        (folder / PARITY_FILE).write_text(report.format() + "\n", encoding="utf-8")
        return report

    def int8(self, folder: Path) -> bool:
        """The static int8 variant ONNX Runtime runs on a CPU (export.quantize.calibrated_int8, the same the cache
        makes on first use) in folder/int8, kept only when it holds; whether it was kept. Its ranges come from the
        bundled avatars and clip whatever `real_inputs` says: static ranges cannot be judged on random inputs."""
        from reenact.export.quantize import calibrated_int8

        int8_dir = folder / INT8_DIR
        why_not = calibrated_int8(self.baseline, folder, int8_dir, say=self.say)
        if why_not is not None:
            shutil.rmtree(int8_dir, ignore_errors=True)
            self.say(f"int8 variant NOT kept: {why_not}")
            return False
        self.say("int8 variant kept in int8/ (use it with --backend onnxruntime --weights OUT/int8)")
        return True

    def tensorrt(self, folder: Path, precision: str) -> ParityReport:
        """TensorRT engines for this GPU in folder/tensorrt, checked like the graphs they come from."""
        return build_checked_engines(folder, precision, self.baseline, self.cases, self.say)

    def close(self) -> None:
        if self._baseline is not None:
            self._baseline.close()
            self._baseline = None

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_checked_engines(folder: Path, precision: str, baseline: Backend, cases: list[ParityCase],
                          say: Callable[[str], None]) -> ParityReport:
    """Build (or keep) the engines of `folder` for this GPU and compare them with `baseline`; engines that do not
    hold their tolerance are removed, so no later load picks them up."""
    from reenact.engine.backends.artifacts import engine_dir_for
    from reenact.engine.backends.tensorrt_backend import TensorRTBackend
    from reenact.export.parity import compare
    from reenact.export.tensorrt import build_engines

    engine_dir = engine_dir_for(folder)
    build_engines(folder, precision, engine_dir)
    engine = TensorRTBackend(folder, fp16=precision == "fp16", engine_dir=engine_dir)
    try:
        report = compare(baseline, engine, cases)
    finally:
        engine.close()
    say(f"TensorRT engines ({engine.reason}) in {engine_dir}")
    say(report.format())
    if not report.ok:
        shutil.rmtree(engine_dir, ignore_errors=True)
    return report


def run_export(opts: ExportOptions, say: Callable[[str], None] = print) -> ExportSummary:
    """`reenact export`: the checked graphs (and int8, TensorRT) in a temporary folder, then moved into `out`."""
    from reenact.engine.backends.artifacts import onnx_paths
    from reenact.export.tensorrt_ops import check_tensorrt_compat

    exporter = Exporter(opts.checkpoint, real_inputs=opts.real_inputs, say=say)  # a damaged checkpoint first
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
    done = False
    try:
        report = exporter.onnx(tmp)
        if not report.ok:
            raise ReenactError(f"ONNX export does not match PyTorch: {report.first_failure()}", opts.checkpoint)
        compat = [check_tensorrt_compat(p) for p in onnx_paths(tmp).values()]
        for c in compat:
            say(c.format().replace(str(tmp), str(out)))
        if opts.int8:
            exporter.int8(tmp)
        if opts.tensorrt:
            if not all(c.ok for c in compat):
                raise ReenactError("the graphs cannot be built with TensorRT (see the operator check above)")
            engines = exporter.tensorrt(tmp, "fp16" if opts.fp16 else "fp32")
            if not engines.ok:
                raise ReenactError(f"TensorRT engine does not match PyTorch: {engines.first_failure()}")
        written = _move_into_place(tmp, out, opts.overwrite)
        done = True
    finally:
        exporter.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):  # made by this run; rmdir, so nothing put there meanwhile is lost
                out.rmdir()
    summary.files = sorted(f for p in written for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    return summary
