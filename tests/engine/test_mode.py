"""One model-or-warp policy (engine.mode) for the demo, the app and the bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.engine.errors import ReenactError
from reenact.engine.mode import UNSEEN, WARP, choose_mode, mode_for_backend, resolve_mode


def test_auto_runs_the_network_where_its_weights_are_and_the_warp_without_them(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    missing = choose_mode("auto", weights)
    assert (missing.mode, missing.reason) == ("warp", f"no model weights at {weights}")  # nothing to run
    weights.write_bytes(b"x")
    auto = choose_mode("auto", weights)  # on a CPU and on a GPU alike: the network is the better one
    assert (auto.mode, auto.reason) == ("model", UNSEEN)
    assert resolve_mode("auto", weights) == "model"
    assert choose_mode("warp", weights).mode == "warp"
    assert choose_mode("model", weights).mode == "model"
    assert choose_mode("auto", weights, "onnxruntime").mode == "model"  # a named backend: the network
    assert choose_mode("auto", weights, "tensorrt").mode == "model"


def test_the_model_without_weights_is_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    with pytest.raises(ReenactError, match="weights not found") as info:
        resolve_mode("model", missing)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ReenactError, match="weights not found"):
        resolve_mode("auto", missing, "torch")
    with pytest.raises(ReenactError, match="mode must be one of auto, model, warp"):
        resolve_mode("sideways", missing)


def test_the_app_s_backend_menu_maps_onto_the_same_policy(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    assert mode_for_backend("auto", missing) == "warp"
    with pytest.raises(ReenactError, match="weights not found"):
        mode_for_backend("torch", missing)
    missing.write_bytes(b"x")
    assert mode_for_backend("onnxruntime", missing) == "model"
    assert mode_for_backend("auto", missing) == "model"
    assert mode_for_backend(WARP, missing) == "warp"  # the network-free path, named as a backend
    missing.unlink()
    assert mode_for_backend(WARP, missing) == "warp"  # which needs no weights
