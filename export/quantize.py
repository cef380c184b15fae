"""An int8 variant of an export for ONNX Runtime.

The frame graph (run every frame) is quantised statically: int8 weights per output channel and uint8 activations
whose ranges were calibrated on the pipeline's own inputs (bundled avatars driven by frames of the bundled clip),
in QDQ form, so ONNX Runtime fuses each quantised convolution into one integer kernel and no range is computed per
call. Without calibration inputs, and for the encoder (run once per avatar, where speed does not matter), it is
dynamic quantisation (activations quantised per call). Static ranges hold for the pipeline's inputs, not for
random ones: judge a static variant on real inputs (`crop_psnr` on `parity.recorded_inputs` of other frames), as
docs/performance.md does; `reenact export --int8` still writes the dynamic variant, which holds on both. It is an
approximation of the model, so it is kept only when it passes its own tolerance, and its quality and speed are
reported beside the fp32 graphs'. It runs on ONNX Runtime only: TensorRT cannot parse its integer nodes (the
operator check says so).
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
from reenact.export.parity import ParityCase, crop_image, frame_feeds, recorded_inputs

Feeds = dict[str, np.ndarray]


def calibration_feeds(reference: object, avatars: tuple[str, ...] = ("mona_lisa.jpg", "astronaut.jpg"),
                      frames: int = 96, every: int = 4) -> list[Feeds]:
    """The frame-graph inputs to calibrate the activation ranges on: each bundled avatar driven by every
    `every`-th of the first `frames` frames of the bundled clip (`parity.recorded_inputs`)."""
    return [feeds for _, feeds in recorded_inputs(reference, avatars, range(0, frames, every))]  # type: ignore[arg-type]


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over recorded feeds (only the inputs the graph has)."""

    def __init__(self, feeds: list[Feeds], names: list[str]) -> None:
        self._it = iter([{n: f[n] for n in names} for f in feeds])

    def get_next(self) -> Feeds | None:
        return next(self._it, None)


def _quantize_static(src: Path, dst: Path, feeds: list[Feeds]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    names = [i.name for i in onnx.load_model(str(src), load_external_data=False).graph.input]
    reader = type("Reader", (_Calibration, CalibrationDataReader), {})(feeds, names)
    pre = dst.with_name(dst.stem + ".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre))  # shapes inferred and constants folded first, as ORT advises
        quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv", "MatMul", "Gemm"])
    finally:
        pre.unlink(missing_ok=True)


def quantize_export(folder: Path, out_dir: Path, calibration: list[Feeds] | None = None) -> dict[str, Path]:
    """Quantise both graphs of `folder` into `out_dir`, marking their metadata precision int8: the frame graph
    statically with `calibration` inputs when given (see the module's note), everything else dynamically."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    written = {}
    targets = onnx_paths(out_dir)
    for graph, src in onnx_paths(folder).items():
        dst = targets[graph]
        with atomic_path(dst, suffix=".onnx") as tmp:
            with warnings.catch_warnings():  # numpy notes that denormals are flushed (engine.runtime does that)
                warnings.simplefilter("ignore", UserWarning)
                if graph == "frame" and calibration:
                    _quantize_static(src, tmp, calibration)
                else:  # uint8 weights: ONNX Runtime's CPU ConvInteger kernels are written for uint8 × uint8
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
    """The animated crop (composed from the frame graph's layers) of a variant against PyTorch fp32 on the
    pipeline's real inputs."""

    psnr_db: float
    mean_abs: float  # in [0, 1] units
    frame_ms: float  # median frame-graph time on this machine


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def crop_psnr(reference: object, candidate: object, source: np.ndarray, feeds: Feeds) -> float:
    """PSNR of the crop `candidate`'s frame-graph layers make against `reference`'s, on the same `feeds`: mask,
    flow and generated content judged together, in the units a viewer sees (parity.crop_image)."""
    ref = crop_image(source, feeds["grid"], reference.run("frame", feeds))  # type: ignore[attr-defined]
    out = crop_image(source, feeds["grid"], candidate.run("frame", feeds))  # type: ignore[attr-defined]
    return psnr(out, ref)


def measure_quality(reference: object, candidate: object, case: ParityCase, repeats: int = 10) -> Quality:
    """PSNR and mean abs difference of the crop the frame graph's layers make (each backend from its own encoder's
    features: end to end), and the frame graph's median run time."""
    ref_feats = reference.run("encoder", {"source": case.source})  # type: ignore[attr-defined]
    cand_feats = candidate.run("encoder", {"source": case.source})  # type: ignore[attr-defined]
    psnrs, maes = [], []
    for frame in case.frames:
        ref = crop_image(case.source, frame["grid"], reference.run("frame", frame_feeds(reference.meta, ref_feats, frame)))  # type: ignore[attr-defined]
        out = crop_image(case.source, frame["grid"], candidate.run("frame", frame_feeds(candidate.meta, cand_feats, frame)))  # type: ignore[attr-defined]
        psnrs.append(psnr(out, ref))
        maes.append(float(np.abs(out - ref).mean()))
    feeds = frame_feeds(candidate.meta, cand_feats, case.frames[0])  # type: ignore[attr-defined]
    candidate.run("frame", feeds)  # type: ignore[attr-defined]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        candidate.run("frame", feeds)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000.0)
    return Quality(float(np.mean(psnrs)), float(np.mean(maes)), float(np.median(times)))
