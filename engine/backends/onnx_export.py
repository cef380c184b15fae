"""Checkpoint → two ONNX graphs (encoder once per avatar, frame once per frame) that describe themselves.

The torch.export-based exporter (opset 18) is used: it writes a native GridSample, keeps every shape static
(batch 1, the model's input size) and handles the frame network's pooling of a computed grid, which the
TorchScript exporter cannot (it loses the grid's shape and refuses adaptive pooling).

The runtime needs this too: `load_backend("onnxruntime", "model.pt")` exports on first use into a per-user cache
keyed by the checkpoint's hash, checked against PyTorch before it is kept, so the second run starts at once. The
cache keeps each graph's sha256; a damaged entry is found on load, said, and exported again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reenact.engine.atomic import atomic_path, atomic_write_bytes, temp_dir_beside
from reenact.engine.backends.base import META_PREFIX, BackendUnavailable, ModelMeta
from reenact.engine.backends.cache import cache_root, file_sha256
from reenact.engine.config import to_dict
from reenact.engine.errors import ReenactError, first_line, require_file

log = logging.getLogger(__name__)

OPSET = 18
EXPORT_FORMAT = "2"  # bump when the exported graphs change, so cached exports are made again
GRAPH_FILES = {"encoder": "encoder.onnx", "frame": "frame.onnx"}
CHECKSUMS = "sha256.json"  # in a cached export: each graph's sha256, checked before the cache is used


def onnx_paths(folder: str | Path) -> dict[str, Path]:
    folder = Path(folder)
    return {graph: folder / name for graph, name in GRAPH_FILES.items()}


def is_export_folder(path: str | Path) -> bool:
    return Path(path).is_dir() and all(p.is_file() for p in onnx_paths(path).values())


def _example_inputs(meta: ModelMeta, model: object) -> tuple[tuple, tuple]:
    """Inputs to trace with: only their shapes and dtypes end up in the graph."""
    import torch

    from reenact.engine.model.networks import identity_grid

    gen = torch.Generator().manual_seed(0)
    s, k = meta.input_size, len(meta.landmark_subset)
    source = torch.rand(1, 3, s, s, generator=gen)
    with torch.no_grad():
        feats = model.encoder(source)  # type: ignore[attr-defined]
    grid = identity_grid(1, s) + 0.01 * torch.randn(1, s, s, 2, generator=gen)
    kp = torch.rand(1, k, 2, generator=gen) * 1.6 - 0.8
    return (source,), (source, *feats, grid, kp, kp + 0.01 * torch.randn(1, k, 2, generator=gen))


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs optional-package notes and deprecation warnings that mean nothing to a user."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnx_ir", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(checkpoint: object, out_dir: str | Path, *, checkpoint_sha256: str = "") -> dict[str, Path]:
    """Write encoder.onnx and frame.onnx (each to a temporary name, then renamed) with reenact metadata.

    `checkpoint` is an engine.model.checkpoint.Checkpoint.
    """
    import onnx
    import torch

    from reenact.engine.runtime import configure_torch

    configure_torch()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = checkpoint.model_config  # type: ignore[attr-defined]
    meta = ModelMeta.from_model_config(config)
    model = checkpoint.build().float().eval()  # type: ignore[attr-defined]
    encoder_args, frame_args = _example_inputs(meta, model)
    jobs = {
        "encoder": (model.encoder, encoder_args, meta.encoder_inputs, meta.encoder_outputs),
        "frame": (model.frame, frame_args, meta.frame_inputs, meta.frame_outputs),
    }
    written: dict[str, Path] = {}
    for graph, (module, args, inputs, outputs) in jobs.items():
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                module, args, dynamo=True, opset_version=OPSET, input_names=list(inputs),
                output_names=list(outputs), verbose=False, external_data=False,
            )
        proto = program.model_proto
        props = {
            **meta.to_metadata(),
            META_PREFIX + "graph": graph,
            META_PREFIX + "export_format": EXPORT_FORMAT,
            META_PREFIX + "model_config": json.dumps(to_dict(config)),
            META_PREFIX + "checkpoint_sha256": checkpoint_sha256,
        }
        del proto.metadata_props[:]
        for key, value in props.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "reenact"
        proto.doc_string = f"reenact {graph} graph (opset {OPSET}, static shapes, batch 1)"
        target = out_dir / GRAPH_FILES[graph]
        with atomic_path(target) as tmp:
            onnx.save_model(proto, tmp)
        written[graph] = target
    return written


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file, without loading its weights; one-line error if it is not ONNX."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ReenactError("ONNX file not found", path)
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends: the file is not ONNX
        raise ReenactError(f"not a readable ONNX model ({first_line(exc)})", path) from None
    if not proto.graph.node:
        raise ReenactError("not a readable ONNX model (no graph)", path)
    return {p.key: p.value for p in proto.metadata_props}


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
    """An export folder for this checkpoint, made (and parity-checked) on first use, reused afterwards."""
    from reenact.engine.backends.parity import check_export
    from reenact.engine.model.checkpoint import load_checkpoint

    checkpoint_path = require_file(checkpoint_path, "checkpoint")
    digest = file_sha256(checkpoint_path)
    root = cache_root() / "onnx"
    final = root / f"{digest[:24]}-v{EXPORT_FORMAT}"
    if final.exists():
        damage = cache_damage(final)
        if damage is None:
            log.info("using the cached ONNX export %s", final)
            return final
        log.warning("the cached ONNX export %s cannot be trusted (%s); exporting it again", final, damage)
        _discard(final)
    ckpt = load_checkpoint(checkpoint_path)
    root.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(final)
    try:
        log.info("exporting %s to ONNX (first use; cached in %s)", checkpoint_path, final)
        export_onnx(ckpt, tmp, checkpoint_sha256=digest)
        report = check_export(ckpt, tmp, real=False)
        if not report.ok:
            raise BackendUnavailable(f"its ONNX export does not match PyTorch ({report.first_failure()})",
                                     checkpoint_path)
        _write_checksums(tmp)
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same export first
            if not is_export_folder(final):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


__all__ = [
    "EXPORT_FORMAT", "GRAPH_FILES", "OPSET", "cached_onnx", "export_onnx", "is_export_folder", "onnx_paths",
    "read_onnx_metadata",
]
