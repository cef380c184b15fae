"""TensorRT engine files that say what they were built for, and the cache that never loads a stale one.

A serialized TensorRT engine only runs on the GPU model and TensorRT version that built it, and only means
something for the ONNX file it came from. So each engine file starts with a header:

    b"REENACT-TRT\\0" | uint32 little-endian header length | UTF-8 JSON header | serialized engine

and lives under a name keyed by (GPU, compute capability, TensorRT version, ONNX sha256, precision). A cached
engine is loaded only when its header matches the machine and the ONNX file exactly; otherwise reenact.export
builds it again (export.tensorrt). All of this is plain Python, so it is tested without TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reenact.engine.atomic import atomic_write_bytes
from reenact.engine.errors import ReenactError

MAGIC = b"REENACT-TRT\0"
HEADER_FORMAT = 1
_LEN = struct.Struct("<I")
MAX_HEADER = 1 << 20


@dataclass(frozen=True, slots=True)
class TrtTarget:
    """The machine an engine is built for."""

    gpu: str
    compute_capability: str
    tensorrt: str
    precision: str  # fp32 | fp16


@dataclass(frozen=True, slots=True)
class EngineHeader:
    graph: str
    onnx_sha256: str
    gpu: str
    compute_capability: str
    tensorrt: str
    precision: str
    meta: dict[str, str] = field(default_factory=dict)  # the ONNX file's reenact metadata
    format: int = HEADER_FORMAT

    @classmethod
    def for_target(cls, graph: str, onnx_sha256: str, target: TrtTarget, meta: dict[str, str]) -> EngineHeader:
        return cls(graph, onnx_sha256, target.gpu, target.compute_capability, target.tensorrt, target.precision,
                   dict(meta))


def engine_key(target: TrtTarget, onnx_sha256: str) -> str:
    text = "|".join((target.gpu, target.compute_capability, target.tensorrt, target.precision, onnx_sha256))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def engine_path(engine_dir: Path, graph: str, target: TrtTarget, onnx_sha256: str) -> Path:
    return engine_dir / f"{graph}-{target.precision}-{engine_key(target, onnx_sha256)}.engine"


def timing_cache_name(target: TrtTarget) -> str:
    """Timing caches depend on the GPU and TensorRT version only, so every model on this machine shares one."""
    text = "|".join((target.gpu, target.compute_capability, target.tensorrt))
    return f"timing-{hashlib.sha256(text.encode()).hexdigest()[:16]}.cache"


def write_engine(path: str | Path, header: EngineHeader, payload: bytes) -> Path:
    """Header + engine, written to a temporary name and renamed, so a crash never leaves half an engine."""
    blob = json.dumps(asdict(header), sort_keys=True).encode("utf-8")
    return atomic_write_bytes(path, MAGIC, _LEN.pack(len(blob)), blob, payload)


def read_engine(path: str | Path, *, payload: bool = True) -> tuple[EngineHeader, bytes]:
    """(header, serialized engine); a file that is not a reenact engine → one-line error naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(MAGIC))
            if magic != MAGIC:
                raise ReenactError("not a reenact TensorRT engine (no reenact engine header)", path)
            raw_len = fh.read(_LEN.size)
            if len(raw_len) != _LEN.size or not 0 < _LEN.unpack(raw_len)[0] <= MAX_HEADER:
                raise ReenactError("damaged TensorRT engine (bad header length)", path)
            blob = fh.read(_LEN.unpack(raw_len)[0])
            body = fh.read() if payload else b""
    except OSError as exc:
        raise ReenactError(f"cannot read TensorRT engine ({exc.strerror or exc})", path) from None
    try:
        data = json.loads(blob.decode("utf-8"))
        header = EngineHeader(**data)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise ReenactError(f"damaged TensorRT engine header ({type(exc).__name__})", path) from None
    if header.format > HEADER_FORMAT:
        raise ReenactError(f"engine header format {header.format} is newer than this reenact reads", path)
    if payload and not body:
        raise ReenactError("damaged TensorRT engine (header without an engine)", path)
    return header, body


def stale_reason(found: EngineHeader, expected: EngineHeader) -> str | None:
    """Why a cached engine must not be loaded here, or None when it is the right one."""
    for name, what in (("graph", "graph"), ("onnx_sha256", "ONNX file"), ("gpu", "GPU"),
                       ("compute_capability", "compute capability"), ("tensorrt", "TensorRT version"),
                       ("precision", "precision")):
        a, b = getattr(found, name), getattr(expected, name)
        if a != b:
            return f"built for {what} {a!r}, this is {b!r}"
    return None
