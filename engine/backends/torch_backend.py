"""PyTorch eager backend: runs a checkpoint directly (CPU, or CUDA when present); the parity check's baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from reenact.engine.backends.base import BackendUnavailable, ModelMeta
from reenact.engine.backends.facade import Arrays, ModelBackend
from reenact.engine.backends.formats import BackendSpec
from reenact.engine.model.checkpoint import Checkpoint, load_checkpoint
from reenact.engine.model.networks import frame_graph
from reenact.engine.runtime import configure_torch


class TorchBackend(ModelBackend):
    name = "torch-cpu"

    def __init__(self, checkpoint: Checkpoint | str | Path, device: str = "cpu", half: bool = False,
                 reason: str = "") -> None:
        configure_torch()
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        self.device = torch.device(device)
        self.dtype = torch.float16 if half else torch.float32
        self.model: torch.nn.Module | None = ckpt.build().to(self.device, self.dtype)
        self._frame = frame_graph(self.model.frame)  # type: ignore[union-attr]
        super().__init__(ModelMeta.from_model_config(ckpt.model_config, "fp16" if half else "fp32"),
                         reason or f"{self.device.type} requested")
        if self.device.type == "cuda":
            self.name = "torch-cuda"

    @torch.inference_mode()
    def _compute(self, graph: str, inputs: Arrays) -> Sequence[NDArray[np.float32]]:
        assert self.model is not None
        module = self.model.encoder if graph == "encoder" else self._frame
        outs = module(*(torch.from_numpy(a).to(self.device, self.dtype) for a in inputs.values()))
        return [o.float().cpu().numpy() for o in ((outs,) if isinstance(outs, torch.Tensor) else outs)]

    def _release(self) -> None:
        self.model = None


def probe(spec: BackendSpec, precision: str) -> None:
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("torch has no CUDA device here")


def open_backend(artifact: Path, spec: BackendSpec, precision: str, reason: str) -> TorchBackend:
    return TorchBackend(artifact, device=spec.device, half=spec.device == "cuda" and precision == "fp16",
                        reason=reason)
