"""The TensorRT operator/shape check runs without TensorRT: it passes for the shipped architecture's graphs and
names the node when something is missing."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from reenact.engine.assets import DEFAULT_WEIGHTS
from reenact.engine.backends.artifacts import onnx_paths
from reenact.export.cache import cached_onnx
from reenact.export.quantize import quantize_export
from reenact.export.tensorrt_ops import check_tensorrt_compat


@pytest.fixture(scope="module")
def full_export(full_checkpoint: Path, cache_dir: Path, monkeypatch_module: None) -> Path:
    return cached_onnx(full_checkpoint)


@pytest.fixture(scope="module")
def monkeypatch_module(cache_dir: Path):  # module-scoped: the cache env var for module fixtures
    mp = pytest.MonkeyPatch()
    mp.setenv("REENACT_CACHE_DIR", str(cache_dir))
    yield
    mp.undo()


def test_shipped_architecture_passes(full_export: Path) -> None:
    for graph, path in onnx_paths(full_export).items():
        report = check_tensorrt_compat(path)
        assert report.ok, report.format()
        if graph == "frame":  # features sampled by gathers (networks.sample_by_gather), not GridSample
            assert report.ops["GatherND"] > 0 and report.ops["GridSample"] == 0 and report.ops["Conv"] > 0


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped weights at assets/weights/reenact.pt yet")
def test_shipped_checkpoint_passes() -> None:
    for path in onnx_paths(cached_onnx(DEFAULT_WEIGHTS)).values():
        report = check_tensorrt_compat(path)
        assert report.ok, report.format()


def test_gridsample_needs_tensorrt_8_5(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    g = helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 8, 8, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    node = helper.make_node("GridSample", ["x", "g"], ["y"], name="warp", mode="bilinear", padding_mode="border")
    path = tmp_path / "warp.onnx"
    onnx.save_model(helper.make_model(helper.make_graph([node], "g", [x, g], [y]),
                                      opset_imports=[helper.make_opsetid("", 17)]), path)
    assert check_tensorrt_compat(path).ok
    report = check_tensorrt_compat(path, trt_version=(8, 4))
    assert not report.ok
    assert report.problems and all("GridSample" in p and "8.5" in p for p in report.problems)


def test_int8_variant_is_refused_with_the_reason(full_export: Path, tmp_path: Path) -> None:
    quantize_export(full_export, tmp_path / "int8")
    report = check_tensorrt_compat(onnx_paths(tmp_path / "int8")["frame"])
    assert not report.ok
    text = report.format()
    assert "ConvInteger" in text and "DynamicQuantizeLinear" in text and "QuantizeLinear/DequantizeLinear" in text


def test_dynamic_shapes_custom_ops_and_bad_attributes_are_named(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    g = helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 8, 8, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    nodes = [
        helper.make_node("GridSample", ["x", "g"], ["s"], name="warp", mode="bilinear", padding_mode="mirror"),
        helper.make_node("FusedThing", ["s"], ["t"], name="fused", domain="com.example"),
        helper.make_node("Hardmax", ["t"], ["y"], name="hm"),
    ]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, g], [y]),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "odd.onnx"
    onnx.save_model(model, path)
    report = check_tensorrt_compat(path)
    text = report.format()
    assert not report.ok
    assert "'x' has a dynamic or unknown shape" in text
    assert "warp (GridSample): padding_mode 'mirror'" in text
    assert "fused (FusedThing): custom domain 'com.example'" in text
    assert "hm (Hardmax): operator not in TensorRT's ONNX support matrix" in text
