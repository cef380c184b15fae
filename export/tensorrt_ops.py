"""Will TensorRT take this ONNX graph? Checked in pure Python before any build, so the answer names the node.

The table follows the ONNX-TensorRT operator support matrix for TensorRT 10 (opsets 9–20). Only what our graphs
can plausibly contain is checked in depth (attributes of Conv, pooling, Resize, GridSample); any operator outside
the table, any custom domain and any dynamic dimension is reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TRT_VERSION = (10, 0)
OPSET_RANGE = (9, 20)

# Operators TensorRT 10's ONNX parser supports (the "Y" rows of its support matrix).
SUPPORTED_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast CastLike Ceil Celu
Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div Dropout
Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool
GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU HardSigmoid HardSwish Identity If
ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN
LSTM LpNormalization LpPool MatMul Max MaxPool Mean Min Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
ReduceSumSquare Relu Reshape Resize ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements
ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt
Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
""".split())

# Operators that arrived after TensorRT 8.0 and the release that first parsed them.
MIN_VERSION = {"GridSample": (8, 5), "NonZero": (8, 5), "OneHot": (8, 5), "Trilu": (8, 5),
               "LayerNormalization": (8, 6), "RoiAlign": (8, 6), "GroupNormalization": (10, 0), "Gelu": (10, 0)}

# Known not to parse, with what to do instead.
UNSUPPORTED_HINTS = {
    "ConvInteger": "ONNX Runtime-style dynamic int8; TensorRT quantises with QuantizeLinear/DequantizeLinear",
    "MatMulInteger": "ONNX Runtime-style dynamic int8; TensorRT quantises with QuantizeLinear/DequantizeLinear",
    "DynamicQuantizeLinear": "dynamic quantisation is not supported; export the fp32 graph",
    "QLinearConv": "use QuantizeLinear/DequantizeLinear around Conv",
    "QLinearMatMul": "use QuantizeLinear/DequantizeLinear around MatMul",
}

# Attributes whose values TensorRT supports only in part: op → (attribute, ONNX default, supported values).
ATTRIBUTE_VALUES: dict[str, tuple[tuple[str, str, frozenset[str]], ...]] = {
    "Resize": (
        ("mode", "nearest", frozenset({"nearest", "linear", "cubic"})),
        ("coordinate_transformation_mode", "half_pixel",
         frozenset({"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"})),
    ),
    "GridSample": (
        ("mode", "linear", frozenset({"bilinear", "linear", "nearest", "bicubic", "cubic"})),
        ("padding_mode", "zeros", frozenset({"zeros", "border", "reflection"})),
    ),
}
FLOAT_TYPES = {1, 10}  # TensorProto FLOAT, FLOAT16


@dataclass(slots=True)
class CompatReport:
    path: str
    trt_version: tuple[int, int]
    ops: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        version = ".".join(map(str, self.trt_version))
        ops = ", ".join(f"{op}×{n}" for op, n in sorted(self.ops.items()))
        head = f"TensorRT {version} check of {self.path}: {'ok' if self.ok else 'NOT SUPPORTED'} ({ops})"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def _attr(node: object, name: str, default: object) -> object:
    import onnx

    for a in node.attribute:  # type: ignore[attr-defined]
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _dims(value_info: object) -> list[object]:
    shape = value_info.type.tensor_type.shape  # type: ignore[attr-defined]
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]


def check_tensorrt_compat(model: str | Path | object, trt_version: tuple[int, int] = TRT_VERSION) -> CompatReport:
    """Operators, attributes, opset and static shapes of an ONNX model against TensorRT `trt_version`."""
    import onnx

    if isinstance(model, str | Path):
        path = str(model)
        model = onnx.load_model(path, load_external_data=False)
    else:
        path = "<model>"
    report = CompatReport(path, trt_version)
    graph = model.graph  # type: ignore[attr-defined]
    for opset in model.opset_import:  # type: ignore[attr-defined]
        if opset.domain in ("", "ai.onnx") and not OPSET_RANGE[0] <= opset.version <= OPSET_RANGE[1]:
            report.problems.append(f"opset {opset.version} is outside TensorRT's range {OPSET_RANGE[0]}–{OPSET_RANGE[1]}")
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for v in values:
            dims = _dims(v)
            if not dims or any(not isinstance(d, int) or d <= 0 for d in dims):
                report.problems.append(f"graph {kind} {v.name!r} has a dynamic or unknown shape {dims}; "
                                       "export with static shapes")
            if v.type.tensor_type.elem_type not in FLOAT_TYPES:
                report.problems.append(f"graph {kind} {v.name!r} is not float32/float16")
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph.value_info  # type: ignore[arg-type]
    except Exception:  # inference is a help, not a requirement; the parser will tell
        inferred = []
    dynamic = [v.name for v in inferred if any(not isinstance(d, int) or d <= 0 for d in _dims(v))]
    if dynamic:
        report.problems.append(f"{len(dynamic)} intermediate tensor(s) with dynamic shapes, e.g. {dynamic[:3]}")
    constants = {i.name for i in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    initializer_dims = {i.name: list(i.dims) for i in graph.initializer}
    for node in graph.node:
        op = node.op_type
        report.ops[op] += 1
        where = f"node {node.name or '?'} ({op})"
        if node.domain not in ("", "ai.onnx"):
            report.problems.append(f"{where}: custom domain {node.domain!r} has no TensorRT parser support")
            continue
        if op in UNSUPPORTED_HINTS:
            report.problems.append(f"{where}: not supported by TensorRT ({UNSUPPORTED_HINTS[op]})")
            continue
        if op not in SUPPORTED_OPS:
            report.problems.append(f"{where}: operator not in TensorRT's ONNX support matrix")
            continue
        need = MIN_VERSION.get(op)
        if need is not None and trt_version < need:
            report.problems.append(f"{where}: needs TensorRT ≥ {need[0]}.{need[1]}")
        if op in ("Conv", "ConvTranspose"):
            if len(node.input) < 2 or node.input[1] not in constants:
                report.problems.append(f"{where}: weights must be an initializer")
            elif len(initializer_dims.get(node.input[1], [0, 0, 0, 0])) not in (4, 5):
                report.problems.append(f"{where}: only 2D or 3D convolutions")
        elif op in ("AveragePool", "MaxPool"):
            if len(_attr(node, "kernel_shape", [])) not in (2, 3):  # type: ignore[arg-type]
                report.problems.append(f"{where}: only 2D or 3D pooling")
        for name, default, supported in ATTRIBUTE_VALUES.get(op, ()):
            value = _attr(node, name, default)
            if value not in supported:
                report.problems.append(f"{where}: {name} {value!r} unsupported")
    return report
