"""Reading model artifacts: what a path holds, and the metadata each artifact carries about itself.

Three formats (backends.formats.FORMATS): a checkpoint (.pt, described by its ModelConfig), an export folder
(encoder.onnx + frame.onnx, described by their `metadata_props`) and TensorRT engines in that folder's tensorrt/
(described by their headers, backends.trt_engine_file). Writing them is reenact.export's job; here they are only
read, so the runtime needs neither the exporter nor PyTorch to open an ONNX export.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from reenact.engine.backends.base import META_PREFIX, ModelMeta
from reenact.engine.backends.cache import cache_root
from reenact.engine.backends.formats import GRAPH_FILES, TENSORRT_DIR
from reenact.engine.errors import ReenactError, first_line

__all__ = ["GRAPH_FILES", "TENSORRT_DIR", "Artifact", "engine_dir_for", "find_artifact", "is_export_folder",
           "onnx_paths", "read_export_meta", "read_onnx_metadata", "weights_artifact"]


@dataclass(frozen=True, slots=True)
class Artifact:
    format: str  # a key of backends.formats.FORMATS: checkpoint | onnx (an export folder, maybe with engines)
    path: Path  # the checkpoint file, or the export folder


def onnx_paths(folder: str | Path) -> dict[str, Path]:
    folder = Path(folder)
    return {graph: folder / name for graph, name in GRAPH_FILES.items()}


def is_export_folder(path: str | Path) -> bool:
    return Path(path).is_dir() and all(p.is_file() for p in onnx_paths(path).values())


def find_artifact(weights: str | Path) -> Artifact:
    """What `weights` holds, or the one-line error for a path that holds no weights: callers check it before any
    slow setup. A single .onnx file stands for the export folder it lies in."""
    weights = Path(weights)
    wanted = " and ".join(GRAPH_FILES.values())
    if weights.is_dir():
        if not is_export_folder(weights):
            raise ReenactError(f"is a folder, expected a checkpoint file or an export folder (with {wanted})", weights)
        return Artifact("onnx", weights)
    if weights.suffix == ".onnx" and weights.is_file():
        if not is_export_folder(weights.parent):
            raise ReenactError(f"is one graph; a model is the whole export folder ({wanted})", weights)
        return Artifact("onnx", weights.parent)
    if not weights.exists():
        raise ReenactError("model weights not found", weights)
    return Artifact("checkpoint", weights)


def weights_artifact(weights: str | Path) -> str:
    """The format `weights` holds ("checkpoint" or "onnx"); see find_artifact."""
    return find_artifact(weights).format


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


def read_export_meta(folder: str | Path) -> ModelMeta:
    """The ModelMeta of an export folder; both graphs must carry the same model's metadata."""
    metas: dict[str, ModelMeta] = {}
    props: dict[str, dict[str, str]] = {}
    for graph, path in onnx_paths(folder).items():
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


def engine_dir_for(folder: str | Path) -> Path:
    """Where the TensorRT engines of an export folder live: beside its graphs when that folder is writable (what
    `reenact export --tensorrt` writes), else in the per-user cache, keyed by the folder."""
    folder = Path(folder)
    if os.access(folder, os.W_OK) or (folder / TENSORRT_DIR).is_dir():
        return folder / TENSORRT_DIR
    return cache_root() / "tensorrt" / hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
