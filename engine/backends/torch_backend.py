"""PyTorch eager backend: runs a checkpoint directly (CPU, or CUDA when present). The reference for parity."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from reenact.engine.backends.base import Closing, ModelMeta, check_feeds
from reenact.engine.model.checkpoint import Checkpoint, load_checkpoint
from reenact.engine.runtime import configure_torch


class TorchBackend(Closing):
    name = "torch-cpu"

    def __init__(self, checkpoint: Checkpoint | str | Path, device: str = "cpu", half: bool = False,
                 reason: str = "") -> None:
        configure_torch()
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        self.device = torch.device(device)
        self.dtype = torch.float16 if half else torch.float32
        self.model: torch.nn.Module | None = ckpt.build().to(self.device, self.dtype)
        self.meta = ModelMeta.from_model_config(ckpt.model_config, "fp16" if half else "fp32")
        self.reason = reason or f"{self.device.type} requested"
        if self.device.type == "cuda":
            self.name = "torch-cuda"

    @torch.inference_mode()
    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        if self.model is None:
            raise RuntimeError("backend is closed")
        check_feeds(self.meta, graph, feeds)

        def t(name: str) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(feeds[name], dtype=np.float32)).to(self.device, self.dtype)

        module = self.model.encoder if graph == "encoder" else self.model.frame
        outs = module(*(t(n) for n in self.meta.inputs(graph)))
        return {n: o.float().cpu().numpy() for n, o in zip(self.meta.outputs(graph), outs, strict=True)}

    def close(self) -> None:
        self.model = None
