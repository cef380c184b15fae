"""Checkpoints that describe themselves: model config, weights, training config and step in one file.

They load with `torch.load(weights_only=True)` (plain tensors and builtins only), so opening a checkpoint never
runs code from it; anything else is refused with a one-line error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reenact.engine.atomic import atomic_path
from reenact.engine.config import ModelConfig, from_dict, to_dict
from reenact.engine.errors import ReenactError, first_line, require_file

FORMAT = "reenact-checkpoint"
FORMAT_VERSION = 1


@dataclass(slots=True)
class Checkpoint:
    model_config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    step: int = 0
    train_config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # optimizer state, RNG, loss history (training only)

    def without_generator(self) -> Checkpoint:
        """The same network without its generator branch (ModelConfig.generator False): the occlusion decoder, its
        generated RGB and blend mask dropped, the flow head cut to the residual flow's two channels. Its residual
        flow is the original's exactly; its pictures are the original's wherever that blend showed no generated
        pixel."""
        if not self.model_config.generator:
            raise ReenactError("this checkpoint has no generator branch to remove")
        decoder = ("frame.d32.", "frame.d64.", "frame.d128.", "frame.out.")
        state = {k: v for k, v in self.state_dict.items() if not k.startswith(decoder)}
        state["frame.flow.weight"] = state["frame.flow.weight"][:2].clone()
        state["frame.flow.bias"] = state["frame.flow.bias"][:2].clone()
        config = ModelConfig(**{**to_dict(self.model_config), "generator": False})
        return Checkpoint(config, state, self.step, dict(self.train_config), dict(self.extra))

    def build(self) -> torch.nn.Module:
        from reenact.engine.model.networks import ReenactModel

        model = ReenactModel(self.model_config)
        problem = state_dict_mismatch(model.state_dict(), self.state_dict)
        if problem:
            raise ReenactError(problem)
        model.load_state_dict(self.state_dict)
        return model.eval()


def state_dict_mismatch(expected: dict[str, torch.Tensor], found: Any) -> str | None:
    """The first tensor that does not fit, named ("frame.d64.0.weight: shape (32, 64, 3, 3) in the file, (16, 64,
    3, 3) expected"), or None: torch's own message lists every key, a page for one wrong width."""
    if not isinstance(found, dict):
        return f"the weights are a {type(found).__name__}, not a mapping of tensors"
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing:
        return f"{missing[0]}: missing from the file{_and_more(missing)}"
    if unexpected:
        return f"{unexpected[0]}: in the file but not in the model{_and_more(unexpected)}"
    for key, want in expected.items():
        got = found[key]
        if not isinstance(got, torch.Tensor):
            return f"{key}: a {type(got).__name__} in the file, a tensor expected"
        if got.shape != want.shape:
            return f"{key}: shape {tuple(got.shape)} in the file, {tuple(want.shape)} expected"
    return None


def _and_more(keys: list[str]) -> str:
    return f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write atomically: to a temporary name beside the target, then rename."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": to_dict(ckpt.model_config),
        "state_dict": ckpt.state_dict,
        "step": int(ckpt.step),
        "train_config": ckpt.train_config,
        "extra": ckpt.extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    path = require_file(path, "checkpoint")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle, zip and unpickler errors all mean the same to the user
        raise ReenactError(f"not a reenact checkpoint (cannot be read: {first_line(exc, 120)})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReenactError("not a reenact checkpoint (no reenact format marker)", path)
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise ReenactError(f"checkpoint format {data['format_version']} is newer than this reenact supports", path)
    try:
        config = from_dict(ModelConfig, data["model_config"], "model_config")
        ckpt = Checkpoint(config, data["state_dict"], int(data.get("step", 0)), data.get("train_config") or {},
                          data.get("extra") or {})
        ckpt.build()  # the weights must fit the architecture they claim
    except (KeyError, TypeError, RuntimeError, ReenactError) as exc:
        raise ReenactError(f"damaged reenact checkpoint ({first_line(exc, 120)})", path) from None
    return ckpt
