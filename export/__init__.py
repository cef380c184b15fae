"""`reenact export`: checkpoint → ONNX graphs (checked against PyTorch) → optional int8 and TensorRT engines."""
