"""PyTorch eager backend: runs a checkpoint directly (CPU, or CUDA when present)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from engine.backends.base import ModelMeta
from engine.model.checkpoint import Checkpoint, load_checkpoint
from engine.model.networks import ENCODER_OUTPUTS, FRAME_INPUTS, FRAME_OUTPUTS
from engine.runtime import configure_torch


class TorchBackend:
    name = "torch"

    def __init__(self, checkpoint: Checkpoint | str | Path, device: str = "cpu", half: bool = False) -> None:
        configure_torch()
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        self.device = torch.device(device)
        self.dtype = torch.float16 if half else torch.float32
        self.model = ckpt.build().to(self.device, self.dtype)
        self.meta = ModelMeta.from_model_config(ckpt.model_config)
        if self.device.type == "cuda":
            self.name = "torch-cuda-fp16" if half else "torch-cuda"

    @torch.inference_mode()
    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        def t(name: str) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(feeds[name])).to(self.device, self.dtype)

        if graph == "encoder":
            outs = self.model.encoder(t("source"))
            names = ENCODER_OUTPUTS
        elif graph == "frame":
            outs = self.model.frame(*(t(n) for n in FRAME_INPUTS))
            names = FRAME_OUTPUTS
        else:
            raise KeyError(f"unknown graph {graph!r}")
        return {n: o.float().cpu().numpy() for n, o in zip(names, outs, strict=True)}

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
