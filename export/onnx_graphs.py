"""Checkpoint → two ONNX graphs (encoder once per avatar, frame once per frame) that describe themselves.

The torch.export-based exporter (opset 18) is used: it keeps every shape static
(batch 1, the model's input size) and handles the frame network's pooling of a computed grid, which the
TorchScript exporter cannot (it loses the grid's shape and refuses adaptive pooling). The features are sampled by
gathers, not GridSample (engine.model.networks.sample_by_gather: ONNX Runtime's CPU kernel for it was half the frame
graph's time). The graphs' metadata
(engine.backends.base.ModelMeta plus what export made them) is all a runtime reads about the model.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reenact.engine.atomic import atomic_path
from reenact.engine.backends.artifacts import GRAPH_FILES
from reenact.engine.backends.base import META_PREFIX, ModelMeta
from reenact.engine.config import to_dict

if TYPE_CHECKING:
    from reenact.engine.model.checkpoint import Checkpoint

OPSET = 18
EXPORT_FORMAT = "4"  # bump when the exported graphs change, so cached exports are made again


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
    named = {**dict(zip(meta.encoder_outputs, feats, strict=True)), "grid": grid, "kp_source": kp,
             "kp_driving": kp + 0.01 * torch.randn(1, k, 2, generator=gen)}
    return (source,), tuple(named[name] for name in meta.frame_inputs)


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


def export_onnx(checkpoint: Checkpoint, out_dir: str | Path, *, checkpoint_sha256: str = "") -> dict[str, Path]:
    """Write encoder.onnx and frame.onnx (each to a temporary name, then renamed) with reenact metadata."""
    import onnx
    import torch

    from reenact.engine.model.networks import frame_graph
    from reenact.engine.runtime import configure_torch

    configure_torch()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = checkpoint.model_config
    meta = ModelMeta.from_model_config(config)
    model = checkpoint.build().float().eval()
    encoder_args, frame_args = _example_inputs(meta, model)
    jobs = {
        "encoder": (model.encoder, encoder_args, meta.encoder_inputs, meta.encoder_outputs),
        "frame": (frame_graph(model.frame), frame_args, meta.frame_inputs, meta.frame_outputs),
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
