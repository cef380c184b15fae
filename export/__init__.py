"""The write side of the model artifacts: one exporter (checkpoint → ONNX graphs checked against PyTorch → int8,
TensorRT engines), the per-user cache, and `open_backend`, which makes the artifact a backend reads and hands it
to engine.backends to load. export imports engine; engine never imports export."""

from reenact.export.artifacts import open_backend, prepare

__all__ = ["open_backend", "prepare"]
