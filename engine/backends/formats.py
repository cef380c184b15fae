"""Every artifact format and every backend, in one table: the loader, the exporter, the bench and the parity
tolerances all read it, so adding a backend is one row here and one module that opens it.

A format is what a file on disk holds; a backend is a runtime that reads one format on one device. `kind` is the
name a user types (`--backend onnxruntime`); `runs_as` is the name a loaded backend reports (`onnxruntime-cpu`),
which the parity tolerances and the bench's results are keyed by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from reenact.engine.backends.tolerance import Tolerance
from reenact.engine.errors import ReenactError

GRAPH_FILES = MappingProxyType({"encoder": "encoder.onnx", "frame": "frame.onnx"})  # an export folder's graphs
TENSORRT_DIR = "tensorrt"  # an export folder's engines, beside the graphs they were built from


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    holds: str  # for messages: what such an artifact is
    made_by: str  # for messages: how a user gets one
    files: tuple[str, ...] = ()  # what it consists of, relative to its path


FORMATS = MappingProxyType({
    "checkpoint": Format("checkpoint", "a reenact checkpoint (.pt)", "training (reenact train)"),
    "onnx": Format("onnx", "an export folder (encoder.onnx and frame.onnx)", "reenact export --checkpoint X --out DIR",
                   tuple(GRAPH_FILES.values())),
    "tensorrt": Format("tensorrt", "an export folder with TensorRT engines built for this GPU (tensorrt/)",
                       "reenact export --checkpoint X --out DIR --tensorrt", (*GRAPH_FILES.values(), TENSORRT_DIR)),
})


@dataclass(frozen=True, slots=True)
class BackendSpec:
    kind: str  # what `--backend` names
    runs_as: str  # what the loaded backend's `name` says
    format: str  # the artifact format it reads (a key of FORMATS)
    device: str  # cpu | cuda
    opener: str  # "module:function" that opens it: (artifact, spec, precision, reason) -> Backend
    probe: str  # "module:function" that raises BackendUnavailable when it cannot run here: (spec, precision)
    precisions: tuple[str, ...] = ("fp32",)  # what it can compute in when asked (`--precision`)
    tolerances: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # precision → Tolerance
    default: str = "fp32"  # what it computes in unless asked otherwise


_TORCH = "reenact.engine.backends.torch_backend"
_ORT = "reenact.engine.backends.onnxruntime_backend"
_TRT = "reenact.engine.backends.tensorrt_backend"


def _tol(**by_precision: Tolerance) -> MappingProxyType:
    return MappingProxyType(by_precision)


# Fastest first: "auto" tries them in this order. Tolerances: how closely each must match PyTorch fp32 on CPU,
# as max |candidate − baseline| / max(1, max |baseline|) and the same for the mean (backends.tolerance). fp32
# runtimes differ from eager torch only by kernel order and fused ops (about 1e-5 measured with ONNX Runtime on
# CPU); GPU fp32 kernels may use TF32; fp16 keeps ~3 decimal digits. int8 approximates the model: its bound is
# loose, and a static int8 frame graph is judged on the crop it makes (export.cache.cached_int8, docs/performance.md).
# ONNX Runtime on CPU runs int8 by default: its frame graph took 6.4 against 10.0 ms fp32, and its crop is at least
# 46 dB PSNR against fp32's on held-out frames.
BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec("tensorrt", "tensorrt", "tensorrt", "cuda", f"{_TRT}:open_backend", f"{_TRT}:probe",
                ("fp32", "fp16"), _tol(fp32=Tolerance(5e-3, 5e-4), fp16=Tolerance(3e-2, 3e-3))),
    BackendSpec("onnxruntime-cuda", "onnxruntime-cuda", "onnx", "cuda", f"{_ORT}:open_backend", f"{_ORT}:probe",
                ("fp32",), _tol(fp32=Tolerance(5e-3, 5e-4), int8=Tolerance(0.25, 0.02))),
    BackendSpec("onnxruntime", "onnxruntime-cpu", "onnx", "cpu", f"{_ORT}:open_backend", f"{_ORT}:probe",
                ("fp32", "int8"), _tol(fp32=Tolerance(1e-4, 1e-5), int8=Tolerance(0.25, 0.02)), default="int8"),
    BackendSpec("torch-cuda", "torch-cuda", "checkpoint", "cuda", f"{_TORCH}:open_backend", f"{_TORCH}:probe",
                ("fp32", "fp16"), _tol(fp32=Tolerance(5e-3, 5e-4), fp16=Tolerance(3e-2, 3e-3))),
    BackendSpec("torch-cpu", "torch-cpu", "checkpoint", "cpu", f"{_TORCH}:open_backend", f"{_TORCH}:probe",
                ("fp32",), _tol(fp32=Tolerance(1e-6, 1e-7))),
)

# Names that stand for several rows, tried in order: "torch" is PyTorch on CUDA when there is a GPU, else on CPU.
GROUPS = MappingProxyType({"torch": ("torch-cuda", "torch-cpu")})
AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "onnxruntime", "torch")
KINDS = ("auto", *AUTO_ORDER, "torch-cpu", "torch-cuda")
ALIASES = MappingProxyType({"onnxruntime-cpu": "onnxruntime", "ort": "onnxruntime", "trt": "tensorrt"})


def spec(kind: str) -> BackendSpec:
    for row in BACKENDS:
        if row.kind == kind:
            return row
    raise KeyError(f"no backend row for {kind!r}")


def running(name: str) -> BackendSpec:
    """The row of a loaded backend, by the name it reports (`backend.name`, e.g. "onnxruntime-cpu")."""
    for row in BACKENDS:
        if row.runs_as == name:
            return row
    raise KeyError(f"no backend reports itself as {name!r}")


def resolve_kind(kind: str) -> str:
    """The backend name behind an alias; an unknown one is the user's mistake (one line, the choices listed)."""
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ReenactError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


def candidates(kind: str) -> tuple[BackendSpec, ...]:
    """The rows a `--backend` choice tries, in order: one for a plain kind, several for "auto" and "torch"."""
    kind = resolve_kind(kind)
    names = AUTO_ORDER if kind == "auto" else (kind,)
    return tuple(spec(n) for name in names for n in GROUPS.get(name, (name,)))


PRECISIONS = ("auto", "fp32", "fp16", "int8")  # what `--precision` takes; "auto" is each backend's default


def precision_for(row: BackendSpec, asked: str = "auto") -> str:
    """What the backend of `row` computes in when `asked` for a precision: the one asked where it can, else (and for
    "auto") its own default."""
    if asked not in PRECISIONS:
        raise ReenactError(f"unknown precision {asked!r}; choose one of {', '.join(PRECISIONS)}")
    return asked if asked in row.precisions else row.default


def tolerance_for(backend: str, precision: str) -> Tolerance:
    """How closely the backend that reports itself as `backend` must match PyTorch fp32 at `precision`."""
    for row in BACKENDS:
        if row.runs_as == backend and precision in row.tolerances:
            return row.tolerances[precision]
    raise KeyError(f"no tolerance stated for backend {backend!r} at {precision}")
