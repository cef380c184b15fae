"""Checkpoints of the real architecture with random weights (trained weights are not needed to test export)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reenact.engine.config import ModelConfig
from reenact.engine.model.checkpoint import Checkpoint, save_checkpoint
from reenact.engine.model.networks import ReenactModel

TINY = ModelConfig(size=64, encoder_channels=(4, 8, 8), frame_channels=8, expression_dim=8)


def make_checkpoint(path: Path, config: ModelConfig, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = ReenactModel(config)
    with torch.no_grad():  # move the output head off its "copy the warp" start so the decoder path counts
        model.frame.out.bias[3] = 0.0
    return save_checkpoint(Checkpoint(config, model.state_dict(), step=0), path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pt", TINY)


@pytest.fixture(scope="session")
def full_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped architecture (default ModelConfig), random weights."""
    return make_checkpoint(tmp_path_factory.mktemp("full") / "reenact.pt", ModelConfig(), seed=1)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reenact-cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports made on first use go to a per-session cache, never the user's."""
    monkeypatch.setenv("REENACT_CACHE_DIR", str(cache_dir))


@pytest.fixture
def unmatchable_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tolerance of zero for ONNX Runtime on CPU: no other runtime can meet it, so every parity check fails."""
    from dataclasses import replace
    from types import MappingProxyType

    from reenact.engine.backends import formats
    from reenact.engine.backends.tolerance import Tolerance

    rows = tuple(replace(r, tolerances=MappingProxyType({**r.tolerances, "fp32": Tolerance(0.0, 0.0)}))
                 if r.runs_as == "onnxruntime-cpu" else r for r in formats.BACKENDS)
    monkeypatch.setattr(formats, "BACKENDS", rows)
