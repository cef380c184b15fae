"""The one interface the pipeline and the app see, whatever runs the networks underneath."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from engine.config import ModelConfig
from engine.landmarks import WARP_SUBSET

MODEL_VERSION = "1"
GRAPHS = ("encoder", "frame")


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What a runtime must know about a model artifact; read from the artifact, never guessed."""

    version: str = MODEL_VERSION
    input_size: int = 256
    normalization: str = "rgb01"  # images are float RGB in [0, 1], N×3×H×W
    color_order: str = "RGB"
    landmark_subset: tuple[int, ...] = field(default_factory=lambda: WARP_SUBSET)
    encoder_outputs: tuple[str, ...] = ("feat_128", "feat_64", "feat_32")

    @classmethod
    def from_model_config(cls, config: ModelConfig) -> ModelMeta:
        return cls(input_size=config.size)


@runtime_checkable
class Backend(Protocol):
    """Runs the two graphs of a reenact model: `encoder` once per avatar, `frame` once per frame."""

    name: str
    meta: ModelMeta

    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]: ...

    def close(self) -> None: ...
