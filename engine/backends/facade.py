"""The one place that checks what a backend is fed, so the runtimes underneath stay thin and agree.

pyvirtualcam's `Camera` checks a frame's dtype and shape once and hands its per-OS backends a plain array; here
`ModelBackend.run` checks a graph's feeds once (graph, names, dtype, shape) and hands the runtime (PyTorch, ONNX
Runtime, TensorRT) contiguous float32 arrays in the graph's input order. A runtime only computes: `_compute`
returns the outputs in the graph's output order, `_release` frees what it holds.

The expected shapes come from the artifact's metadata (image, grid, landmarks), from the runtime when it knows its
own static shapes (ONNX Runtime, TensorRT), and, for the encoder's features, from the encoder's last outputs; so
the same mistake gives the same message whichever backend runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from reenact.engine.backends.base import ModelMeta
from reenact.engine.graphs import GRAPHS

Arrays = dict[str, NDArray[np.float32]]


class ModelBackend:
    """A `Backend`: the checks, the closing, and `with backend:`; subclasses implement `_compute` and `_release`."""

    name: str = "backend"

    def __init__(self, meta: ModelMeta, reason: str, shapes: Mapping[str, Mapping[str, tuple[int, ...]]] | None = None
                 ) -> None:
        self.meta = meta
        self.reason = reason
        self._shapes: dict[str, dict[str, tuple[int, ...]]] = {g: meta.known_shapes(g) for g in GRAPHS}
        for graph, graph_shapes in (shapes or {}).items():
            self._shapes[graph].update({k: tuple(int(d) for d in v) for k, v in graph_shapes.items()})
        self._closed = False

    # What subclasses implement ----------------------------------------------------------------------------------
    def _compute(self, graph: str, inputs: Arrays) -> Sequence[NDArray[np.float32]]:
        """The graph's outputs, in `meta.outputs(graph)` order, as float32 numpy arrays."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free sessions, engines, device memory; called once."""

    # The façade -------------------------------------------------------------------------------------------------
    def run(self, graph: str, feeds: Mapping[str, NDArray[np.float32]]) -> Arrays:
        if self._closed:
            raise RuntimeError(f"{self.name} backend is closed")
        inputs = self.check_feeds(graph, feeds)
        names = self.meta.outputs(graph)
        outputs = self._compute(graph, inputs)
        if len(outputs) != len(names):
            raise RuntimeError(f"{self.name} returned {len(outputs)} outputs for the {graph} graph, expected {names}")
        result = {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outputs, strict=True)}
        if graph == "encoder":  # the frame graph must get the features the encoder makes
            self._shapes["frame"].update({n: result[n].shape for n in names if n in self.meta.inputs("frame")})
        return result

    def check_feeds(self, graph: str, feeds: Mapping[str, NDArray]) -> Arrays:
        """Feeds in the graph's input order, contiguous float32; a wiring mistake is named at the boundary."""
        if graph not in GRAPHS:
            raise KeyError(f"unknown graph {graph!r}; graphs are {', '.join(GRAPHS)}")
        expected = self.meta.inputs(graph)
        missing = [n for n in expected if n not in feeds]
        extra = [n for n in feeds if n not in expected]
        if missing or extra:
            raise ValueError(f"graph {graph!r}: missing inputs {missing}, unexpected inputs {extra}")
        inputs: Arrays = {}
        for name in expected:
            array = np.asarray(feeds[name])
            if array.dtype != np.float32:
                raise TypeError(f"graph {graph!r} input {name!r}: dtype {array.dtype}, expected float32")
            want = self._shapes[graph].get(name)
            if want is not None and array.shape != want:
                raise ValueError(f"graph {graph!r} input {name!r}: shape {array.shape}, expected {want}")
            inputs[name] = np.ascontiguousarray(array)
        return inputs

    def close(self) -> None:
        """Idempotent; nothing relies on __del__."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> ModelBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
