"""A small checkpoint of the real architecture (random weights) and its ONNX export, shared by backend tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reenact.engine.config import ModelConfig
from reenact.engine.model.checkpoint import Checkpoint, save_checkpoint
from reenact.engine.model.networks import ReenactModel

SMALL = ModelConfig(size=64, encoder_channels=(4, 8, 8), frame_channels=8, expression_dim=8)


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    model = ReenactModel(SMALL)
    return save_checkpoint(Checkpoint(SMALL, model.state_dict()), tmp_path_factory.mktemp("ckpt") / "small.pt")


@pytest.fixture(scope="session")
def backend_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backend-cache")


@pytest.fixture(autouse=True)
def _private_cache(backend_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REENACT_CACHE_DIR", str(backend_cache))


@pytest.fixture(scope="session")
def small_export(small_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reenact.engine.backends.cache import file_sha256
    from reenact.engine.model.checkpoint import load_checkpoint
    from reenact.export.onnx_graphs import export_onnx

    out = tmp_path_factory.mktemp("export") / "small"
    export_onnx(load_checkpoint(small_checkpoint), out, checkpoint_sha256=file_sha256(small_checkpoint))
    return out
