"""The one interface the pipeline and the app see, whatever runs the networks underneath.

A model artifact describes itself with a `ModelMeta`: a checkpoint through its ModelConfig, an ONNX file through
its `metadata_props`, a TensorRT engine through its header. Runtimes read it instead of hard-coding sizes, names,
normalisation or the landmark subset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import ModelConfig
from reenact.engine.errors import ReenactError
from reenact.engine.graphs import (
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    FRAME_INPUTS,
    FRAME_OUTPUTS,
    GRAPHS,
    frame_names,
)
from reenact.engine.landmarks import WARP_SUBSET

MODEL_VERSION = "3"  # 2: the frame graph also returns its layers (flow, generated); 3: only those layers, no source

META_PREFIX = "reenact."


class BackendUnavailable(ReenactError):
    """This backend cannot run here (module missing, no GPU, ...); "auto" moves on to the next one."""


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What a runtime must know about a model artifact; read from the artifact, never guessed."""

    version: str = MODEL_VERSION
    input_size: int = 256
    normalization: str = "rgb01"  # images are float RGB in [0, 1], N×3×H×W
    color_order: str = "RGB"
    landmark_subset: tuple[int, ...] = field(default_factory=lambda: WARP_SUBSET)
    precision: str = "fp32"  # fp32 | fp16 | int8: what the artifact computes in
    encoder_inputs: tuple[str, ...] = ENCODER_INPUTS
    encoder_outputs: tuple[str, ...] = ENCODER_OUTPUTS
    frame_inputs: tuple[str, ...] = FRAME_INPUTS
    frame_outputs: tuple[str, ...] = FRAME_OUTPUTS

    @classmethod
    def from_model_config(cls, config: ModelConfig, precision: str = "fp32") -> ModelMeta:
        if config.keypoints and config.keypoints != len(WARP_SUBSET):
            raise ReenactError(
                f"model expects {config.keypoints} keypoints but the landmark subset has {len(WARP_SUBSET)}"
            )
        frame_inputs, frame_outputs = frame_names(config.generator)
        return cls(input_size=config.size, precision=precision, frame_inputs=frame_inputs, frame_outputs=frame_outputs)

    def inputs(self, graph: str) -> tuple[str, ...]:
        return {"encoder": self.encoder_inputs, "frame": self.frame_inputs}[_graph(graph)]

    def outputs(self, graph: str) -> tuple[str, ...]:
        return {"encoder": self.encoder_outputs, "frame": self.frame_outputs}[_graph(graph)]

    def known_shapes(self, graph: str) -> dict[str, tuple[int, ...]]:
        """The input shapes this metadata fixes (batch 1); the encoder features' shapes depend on the network and
        are learnt from the encoder's own outputs (backends.facade)."""
        s, k = self.input_size, len(self.landmark_subset)
        shapes = {"source": (1, 3, s, s), "grid": (1, s, s, 2), "kp_source": (1, k, 2), "kp_driving": (1, k, 2)}
        return {name: shapes[name] for name in self.inputs(graph) if name in shapes}

    def to_metadata(self) -> dict[str, str]:
        """Flat string pairs for ONNX `metadata_props` and engine headers."""
        out = {}
        for key, value in asdict(self).items():
            out[META_PREFIX + key] = json.dumps(list(value)) if isinstance(value, tuple) else str(value)
        return out

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], path: str | Path) -> ModelMeta:
        """Parse `to_metadata` output; a file without it is not a reenact model (one-line error naming it)."""
        if META_PREFIX + "version" not in props:
            raise ReenactError("not a reenact model (no reenact metadata in the file)", path)
        if props[META_PREFIX + "version"] != MODEL_VERSION:
            # The graphs' inputs and outputs differ between versions: an older export would be fed and read wrongly.
            raise ReenactError(
                f"model version {props[META_PREFIX + 'version']} is not supported (this reenact reads {MODEL_VERSION}); "
                "export it again from its checkpoint (reenact export --checkpoint CKPT --out DIR)",
                path,
            )
        defaults = cls()
        kwargs: dict[str, object] = {}
        try:
            for name in cls.__dataclass_fields__:
                raw = props.get(META_PREFIX + name)
                if raw is None:
                    raise KeyError(name)
                default = getattr(defaults, name)
                if isinstance(default, tuple):
                    kwargs[name] = tuple(json.loads(raw))
                elif isinstance(default, int):
                    kwargs[name] = int(raw)
                else:
                    kwargs[name] = raw
        except (KeyError, ValueError, TypeError) as exc:
            raise ReenactError(f"damaged reenact metadata (field {exc})", path) from None
        meta = cls(**kwargs)  # type: ignore[arg-type]
        if meta.normalization != "rgb01" or meta.color_order != "RGB":
            raise ReenactError(
                f"model wants {meta.color_order} images normalised as {meta.normalization}; this reenact feeds RGB "
                "in [0, 1]", path,
            )
        return meta


@runtime_checkable
class Backend(Protocol):
    """Runs the two graphs of a reenact model: `encoder` once per avatar, `frame` once per frame.

    `name` says what actually runs (e.g. "onnxruntime-cpu"); `reason` says why this backend was chosen
    (and, under "auto", why faster ones were skipped), for the app to show.
    """

    name: str
    meta: ModelMeta
    reason: str

    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]: ...

    def close(self) -> None: ...


__all__ = [
    "ENCODER_INPUTS", "ENCODER_OUTPUTS", "FRAME_INPUTS", "FRAME_OUTPUTS", "GRAPHS", "META_PREFIX", "MODEL_VERSION",
    "Backend", "BackendUnavailable", "ModelMeta",
]


def _graph(graph: str) -> str:
    if graph not in GRAPHS:
        raise KeyError(f"unknown graph {graph!r}; graphs are {', '.join(GRAPHS)}")
    return graph
