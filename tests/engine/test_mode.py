"""One model-or-warp policy (engine.mode) for the demo, the app and the bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.engine.backends.loader import gpu_backend
from reenact.engine.errors import ReenactError
from reenact.engine.mode import ON_CPU, choose_mode, mode_for_backend, resolve_mode


def _no_gpu() -> None:
    return None


def _a_gpu() -> str:
    return "tensorrt"


def test_auto_runs_the_network_only_where_a_gpu_runs_it(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    assert choose_mode("auto", weights, gpu=_a_gpu).mode == "warp"  # nothing to run
    weights.write_bytes(b"x")
    on_gpu = choose_mode("auto", weights, gpu=_a_gpu)
    assert (on_gpu.mode, on_gpu.reason) == ("model", "a GPU runs the network here (tensorrt)")
    on_cpu = choose_mode("auto", weights, gpu=_no_gpu)
    assert on_cpu.mode == "warp" and on_cpu.reason == ON_CPU
    assert choose_mode("warp", weights, gpu=_a_gpu).mode == "warp"
    assert choose_mode("model", weights, gpu=_no_gpu).mode == "model"
    assert choose_mode("auto", weights, "onnxruntime", gpu=_no_gpu).mode == "model"  # a named backend: the network


def test_this_machine_s_answer_follows_its_gpu(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"x")
    expected = "warp" if gpu_backend() is None else "model"
    assert resolve_mode("auto", weights) == expected


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
