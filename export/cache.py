"""The per-user cache of exports: a checkpoint's checked ONNX graphs (and their TensorRT engines, and the int8
variant ONNX Runtime runs on a CPU), made by the one exporter on first use and reused afterwards.

An entry is keyed by the checkpoint's content (sha256), not its path, and by the export format: a checkpoint
retrained in place, or a reenact whose exporter writes other graphs, gets a new entry. Each entry keeps its graphs'
sha256; a damaged entry is found on load, said, and exported again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from reenact.engine.atomic import atomic_write_bytes, temp_dir_beside
from reenact.engine.backends.artifacts import GRAPH_FILES
from reenact.engine.backends.base import BackendUnavailable
from reenact.engine.backends.cache import cache_root, file_sha256
from reenact.engine.errors import require_file
from reenact.export import onnx_graphs

log = logging.getLogger(__name__)

CHECKSUMS = "sha256.json"  # in a cached export: each graph's sha256, checked before the cache is used
INT8_SUFFIX = "-int8"  # beside a checkpoint's export: its static int8 variant for ONNX Runtime on CPU
REJECTED = "rejected.txt"  # in place of an int8 variant that did not hold: why, so it is not made again


def entry_for(checkpoint_sha256: str) -> Path:
    """The cache folder of a checkpoint's export in the current export format."""
    return cache_root() / "onnx" / f"{checkpoint_sha256[:24]}-v{onnx_graphs.EXPORT_FORMAT}"


def _write_checksums(folder: Path) -> None:
    sums = {name: file_sha256(folder / name) for name in GRAPH_FILES.values()}
    atomic_write_bytes(folder / CHECKSUMS, (json.dumps(sums, indent=1) + "\n").encode("utf-8"))


def cache_damage(folder: Path) -> str | None:
    """Why a cached export cannot be used as it is (a disk error, a killed copy, an edit), or None when it is whole.

    A graph that fails to load says little; one that loads with altered weights would animate wrongly, silently.
    """
    if not (folder / CHECKSUMS).is_file():
        return f"no {CHECKSUMS}: made by an earlier version, or cut short"
    try:
        sums = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{CHECKSUMS} is unreadable"
    for name in GRAPH_FILES.values():
        if not (folder / name).is_file():
            return f"{name} is missing"
        if not isinstance(sums, dict) or file_sha256(folder / name) != sums.get(name):
            return f"{name} does not match its checksum"
    return None


def _discard(folder: Path) -> None:
    """Move a damaged cache entry out of the way first (one rename), so no other process loads it half deleted."""
    trash = folder.with_name(f".{folder.name}.{os.getpid()}.damaged")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:  # another process discarded it already
        return
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


def cached_onnx(checkpoint_path: str | Path) -> Path:
    """An export folder for this checkpoint, made and parity-checked (random and real inputs) on first use."""
    from reenact.export.exporter import Exporter

    checkpoint_path = require_file(checkpoint_path, "checkpoint")
    final = entry_for(file_sha256(checkpoint_path))
    if _usable(final, "ONNX export"):
        return final
    with Exporter(checkpoint_path, say=log.info) as exporter:
        final = entry_for(exporter.sha256)  # the content it loaded, should the file have changed meanwhile

        def export(tmp: Path) -> None:
            log.info("exporting %s to ONNX (first use; cached in %s)", checkpoint_path, final)
            report = exporter.onnx(tmp)
            if not report.ok:
                raise BackendUnavailable(f"cannot use {checkpoint_path}: its ONNX export does not match PyTorch "
                                         f"({report.first_failure()})")
            _write_checksums(tmp)

        _make(final, export)
    return final


def cached_int8(checkpoint_path: str | Path) -> Path:
    """The static int8 variant of this checkpoint's export (export.quantize.calibrated_int8), made and judged on
    first use; the fp32 export when the variant did not hold, which is remembered (and logged) so it is judged
    once per checkpoint."""
    from reenact.engine.backends.torch_backend import TorchBackend
    from reenact.export.quantize import calibrated_int8

    checkpoint_path = require_file(checkpoint_path, "checkpoint")
    fp32 = cached_onnx(checkpoint_path)
    final = fp32.with_name(fp32.name + INT8_SUFFIX)
    if (final / REJECTED).is_file():
        log.info("running fp32: the int8 variant of %s was refused (%s)", checkpoint_path,
                 (final / REJECTED).read_text(encoding="utf-8").strip())
        return fp32
    if _usable(final, "int8 export"):
        return final

    def quantise(tmp: Path) -> None:
        with TorchBackend(checkpoint_path) as reference:
            why_not = calibrated_int8(reference, fp32, tmp, say=log.info)
        if why_not is None:
            _write_checksums(tmp)
            return
        log.warning("running fp32: the int8 variant of %s was refused (%s)", checkpoint_path, why_not)
        for graph in GRAPH_FILES.values():
            (tmp / graph).unlink(missing_ok=True)
        atomic_write_bytes(tmp / REJECTED, (why_not + "\n").encode("utf-8"))

    _make(final, quantise)
    return fp32 if (final / REJECTED).is_file() else final


def _usable(final: Path, what: str) -> bool:
    """Whether the cache entry `final` is there and whole; a damaged one is said once and moved out of the way, to
    be made again."""
    if not final.exists():
        return False
    damage = cache_damage(final)
    if damage is None:
        log.info("using the cached %s %s", what, final)
        return True
    log.warning("the cached %s %s cannot be trusted (%s); making it again", what, final, damage)
    _discard(final)
    return False


def _make(final: Path, fill: Callable[[Path], None]) -> None:
    """Make the cache entry `final`: `fill` writes it into a folder beside it, which is then renamed into place in
    one step (another process finishing the same entry first wins)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(final)
    try:
        fill(tmp)
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same entry first
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
