"""One model-or-warp policy (engine.mode) for the demo and the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.engine.errors import ReenactError
from reenact.engine.mode import mode_for_backend, resolve_mode


def test_auto_runs_the_model_when_weights_exist_and_the_warp_otherwise(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    assert resolve_mode("auto", weights) == "warp"
    weights.write_bytes(b"x")
    assert resolve_mode("auto", weights) == "model"
    assert resolve_mode("warp", weights) == "warp"
    assert resolve_mode("model", weights) == "model"


def test_the_model_without_weights_is_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    with pytest.raises(ReenactError, match="weights not found") as info:
        resolve_mode("model", missing)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ReenactError, match="mode must be one of auto, model, warp"):
        resolve_mode("sideways", missing)


def test_the_app_s_backend_menu_maps_onto_the_same_policy(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    assert mode_for_backend("auto", missing) == "warp"
    with pytest.raises(ReenactError, match="weights not found"):
        mode_for_backend("torch", missing)
    missing.write_bytes(b"x")
    assert mode_for_backend("onnxruntime", missing) == "model"
