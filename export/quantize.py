"""An int8 variant of an export: ONNX Runtime dynamic quantisation (int8 weights, activations quantised per call).

It is an approximation of the model, so it is kept only when it passes its own tolerance, and its quality and
speed are reported beside the fp32 graphs'. It runs on ONNX Runtime only: TensorRT cannot parse its
ConvInteger/MatMulInteger nodes (the operator check says so).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reenact.engine.atomic import atomic_path
from reenact.engine.backends.artifacts import onnx_paths
from reenact.engine.backends.base import META_PREFIX
from reenact.export.parity import ParityCase


def quantize_export(folder: Path, out_dir: Path) -> dict[str, Path]:
    """Quantise both graphs of `folder` into `out_dir`, marking their metadata precision int8."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    written = {}
    targets = onnx_paths(out_dir)
    for graph, src in onnx_paths(folder).items():
        dst = targets[graph]
        with atomic_path(dst, suffix=".onnx") as tmp:
            # uint8 weights: ONNX Runtime's CPU ConvInteger kernels are written for uint8 × uint8
            with warnings.catch_warnings():  # numpy notes that denormals are flushed (engine.runtime does that)
                warnings.simplefilter("ignore", UserWarning)
                quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QUInt8)
            model = onnx.load_model(str(tmp))
            for prop in model.metadata_props:
                if prop.key == META_PREFIX + "precision":
                    prop.value = "int8"
            onnx.save_model(model, str(tmp))
        written[graph] = dst
    return written


@dataclass(frozen=True, slots=True)
class Quality:
    """The animated crop of a variant against PyTorch fp32 on the pipeline's real inputs."""

    psnr_db: float
    mean_abs: float  # in [0, 1] units
    frame_ms: float  # median frame-graph time on this machine


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def measure_quality(reference: object, candidate: object, case: ParityCase, repeats: int = 10) -> Quality:
    """PSNR and mean abs difference of the frame graph's image, and its median run time."""
    ref_feats = reference.run("encoder", {"source": case.source})  # type: ignore[attr-defined]
    cand_feats = candidate.run("encoder", {"source": case.source})  # type: ignore[attr-defined]
    psnrs, maes = [], []
    for frame in case.frames:
        ref = reference.run("frame", {"source": case.source, **ref_feats, **frame})["image"]  # type: ignore[attr-defined]
        out = candidate.run("frame", {"source": case.source, **cand_feats, **frame})["image"]  # type: ignore[attr-defined]
        psnrs.append(psnr(out, ref))
        maes.append(float(np.abs(out - ref).mean()))
    feeds = {"source": case.source, **cand_feats, **case.frames[0]}
    candidate.run("frame", feeds)  # type: ignore[attr-defined]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        candidate.run("frame", feeds)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000.0)
    return Quality(float(np.mean(psnrs)), float(np.mean(maes)), float(np.median(times)))
