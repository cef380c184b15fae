"""ONNX Runtime backend: reads the model from the files' metadata, refuses bad files in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from reenact.engine.backends import ModelMeta, base, load_backend
from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend, session_options
from reenact.engine.errors import ReenactError
from reenact.engine.model import networks


def _one_line(exc: pytest.ExceptionInfo[ReenactError], path: Path) -> str:
    text = str(exc.value)
    assert "\n" not in text and str(path) in text
    return text


def test_interface_names_are_defined_once() -> None:
    from reenact.engine import graphs

    for name in ("ENCODER_OUTPUTS", "FRAME_INPUTS", "FRAME_OUTPUTS"):
        assert getattr(base, name) is getattr(networks, name) is getattr(graphs, name)


def test_metadata_round_trip_and_damage() -> None:
    meta = ModelMeta(input_size=128, precision="int8")
    props = meta.to_metadata()
    assert ModelMeta.from_metadata(props, "m.onnx") == meta
    del props["reenact.landmark_subset"]
    with pytest.raises(ReenactError, match="damaged reenact metadata"):
        ModelMeta.from_metadata(props, "m.onnx")
    with pytest.raises(ReenactError, match="BGR"):
        ModelMeta.from_metadata({**meta.to_metadata(), "reenact.color_order": "BGR"}, "m.onnx")


def test_an_export_of_an_earlier_model_version_is_refused_with_what_to_do(small_export: Path, tmp_path: Path
                                                                          ) -> None:
    """An earlier frame graph takes and returns other tensors: it must not be fed, it must be exported again."""
    folder = tmp_path / "earlier"
    shutil.copytree(small_export, folder)
    for name in ("encoder.onnx", "frame.onnx"):
        model = onnx.load_model(folder / name)
        for p in model.metadata_props:
            if p.key == "reenact.version":
                p.value = "2"
        onnx.save_model(model, folder / name)
    with pytest.raises(ReenactError) as exc:
        load_backend("onnxruntime", folder)
    text = _one_line(exc, folder / "encoder.onnx")
    assert f"model version 2 is not supported (this reenact reads {base.MODEL_VERSION})" in text
    assert "reenact export" in text


def test_cpu_settings() -> None:
    import onnxruntime as ort

    opts = session_options()
    assert opts.get_session_config_entry("session.set_denormal_as_zero") == "1"
    # one thread for the network: the pipeline's other stages have the other cores (app.runner)
    assert opts.intra_op_num_threads == 1 and session_options(3).intra_op_num_threads == 3
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_runs_both_graphs_with_shapes_from_metadata(small_export: Path) -> None:
    backend = OnnxRuntimeBackend(small_export)
    s, k = backend.meta.input_size, len(backend.meta.landmark_subset)
    feats = backend.run("encoder", {"source": np.full((1, 3, s, s), 0.5, np.float32)})
    assert [f.shape for f in feats.values()] == [(1, 4, 32, 32), (1, 8, 16, 16), (1, 8, 8, 8)]
    c = (np.arange(s, dtype=np.float32) * 2 + 1) / s - 1
    grid = np.stack(np.meshgrid(c, c, indexing="xy"), -1)[None]
    kp = np.zeros((1, k, 2), np.float32)
    out = backend.run("frame", {**feats, "grid": grid, "kp_source": kp, "kp_driving": kp})
    assert list(out) == ["mask", "flow", "generated"]
    assert out["mask"].shape == (1, 1, s, s) and out["flow"].shape == (1, s // 4, s // 4, 2)
    assert out["generated"].shape == (1, 3, s, s)
    assert all(np.isfinite(v).all() for v in out.values())
    with pytest.raises(ValueError, match="shape"):
        backend.run("encoder", {"source": np.zeros((1, 3, s + 1, s), np.float32)})
    with pytest.raises(ValueError, match="missing inputs"):
        backend.run("frame", {"grid": grid})
    with pytest.raises(ValueError, match=r"unexpected inputs \['source'\]"):  # the frame graph never samples it
        backend.run("frame", {"source": np.full((1, 3, s, s), 0.5, np.float32), **feats, "grid": grid,
                              "kp_source": kp, "kp_driving": kp})
    with pytest.raises(TypeError, match="'grid': dtype float64, expected float32"):
        backend.run("frame", {**feats, "grid": grid.astype(np.float64), "kp_source": kp, "kp_driving": kp})
    with backend:
        pass
    backend.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        backend.run("encoder", {"source": np.zeros((1, 3, s, s), np.float32)})


def test_corrupt_onnx_is_one_line_naming_the_file(small_export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(small_export, folder)
    bad = folder / "frame.onnx"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # a truncated download
    with pytest.raises(ReenactError) as exc:
        load_backend("onnxruntime", folder)
    _one_line(exc, bad)
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ReenactError) as exc:
        load_backend("onnxruntime", folder)
    _one_line(exc, bad)


def test_foreign_onnx_is_refused(small_export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    shutil.copytree(small_export, folder)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "other", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, folder / "encoder.onnx")
    with pytest.raises(ReenactError) as exc:
        load_backend("onnxruntime", folder)
    assert "not a reenact model" in _one_line(exc, folder / "encoder.onnx")


def test_graphs_from_different_exports_are_refused(small_export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(small_export, folder)
    model = onnx.load_model(folder / "frame.onnx")
    for p in model.metadata_props:
        if p.key == "reenact.checkpoint_sha256":
            p.value = "0" * 64
    onnx.save_model(model, folder / "frame.onnx")
    with pytest.raises(ReenactError, match="different exports"):
        load_backend("onnxruntime", folder)


@pytest.mark.parametrize("graph,name,bad", [
    ("encoder", "source", np.zeros((1, 3, 64, 63), np.float32)),
    ("encoder", "source", np.zeros((1, 3, 64, 64), np.float64)),
    ("frame", "feat_64", np.zeros((1, 8, 16, 15), np.float32)),
    ("frame", "kp_driving", np.zeros((1, 3, 2), np.float32)),
])
def test_torch_and_onnxruntime_refuse_the_same_feeds_the_same_way(small_checkpoint: Path, small_export: Path,
                                                                  graph: str, name: str, bad: np.ndarray) -> None:
    """One façade checks feeds for every backend: the same mistake, the same message, before any runtime runs."""
    from reenact.engine.backends.torch_backend import TorchBackend

    backends = [TorchBackend(small_checkpoint), OnnxRuntimeBackend(small_export)]
    messages = []
    for backend in backends:
        s, k = backend.meta.input_size, len(backend.meta.landmark_subset)
        source = np.full((1, 3, s, s), 0.5, np.float32)
        feats = backend.run("encoder", {"source": source})
        c = (np.arange(s, dtype=np.float32) * 2 + 1) / s - 1
        feeds = {"source": source, **feats, "grid": np.stack(np.meshgrid(c, c, indexing="xy"), -1)[None],
                 "kp_source": np.zeros((1, k, 2), np.float32), "kp_driving": np.zeros((1, k, 2), np.float32)}
        feeds = {n: feeds[n] for n in backend.meta.inputs(graph)}
        with pytest.raises((ValueError, TypeError)) as info:
            backend.run(graph, {**feeds, name: bad})
        messages.append(str(info.value))
        backend.close()
    assert messages[0] == messages[1] and repr(name) in messages[0]
