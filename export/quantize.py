"""The int8 variant of an export that ONNX Runtime runs on a CPU (a third less CPU for the network).

The frame graph (run every frame) is quantised statically: int8 weights per output channel and uint8 activations
whose ranges were calibrated on the pipeline's own inputs (the bundled avatars driven by frames of the bundled
clip), in QDQ form, so ONNX Runtime fuses each quantised convolution into one integer kernel and no range is
computed per call. Without calibration inputs, and for the encoder (run once per avatar, where speed does not
matter), it is dynamic quantisation (activations quantised per call). Static ranges hold for the pipeline's
inputs, not for random ones, so a variant is judged on real inputs it was not calibrated on: the crop its layers
make against PyTorch fp32's (`calibrated_int8`, used by `reenact export --int8` and by the cache on first use).
It is an approximation of the model, so it is kept only when it holds. It runs on ONNX Runtime only: TensorRT
cannot parse its integer nodes (the operator check says so).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from reenact.engine.atomic import atomic_path
from reenact.engine.backends.artifacts import onnx_paths
from reenact.engine.backends.base import META_PREFIX, Backend
from reenact.export.parity import ParityCase, case_of, crop_image, frame_feeds, recorded_inputs

Feeds = dict[str, np.ndarray]


BUNDLED_AVATARS = ("mona_lisa.jpg", "astronaut.jpg", "the_scream.jpg")  # a photo, a painting, a drawn face
CALIBRATION_FRAMES = range(0, 96, 4)  # of the bundled clip
HELD_OUT_FRAMES = (100, 124, 148)  # judged on, never calibrated on
MIN_CROP_PSNR_DB = 40.0  # the int8 crop against fp32's, on every held-out frame: an RMS error of 1 % (2.5 grey levels)


def calibrated_int8(reference: Backend, folder: Path, out_dir: Path, say: Callable[[str], None] = print
                    ) -> str | None:
    """The static int8 variant of export `folder` in `out_dir`, its ranges calibrated on the bundled avatars driven
    by the bundled clip, and judged end to end (`lowest_crop_psnr`) on later frames of the clip against `reference`
    (PyTorch fp32 on the checkpoint): None when every held-out crop is within MIN_CROP_PSNR_DB, else why it is not
    to be used. The ranges depend on the avatar's cached features: calibrated on two avatars, the third's flow came
    out up to 3.2 px from fp32's; on all three, faces none of them resemble stay within 1 px (docs/performance.md)."""
    from reenact.engine.backends.onnxruntime_backend import OnnxRuntimeBackend

    calibration: list[Feeds] = []
    held_out: list[ParityCase] = []
    for avatar in BUNDLED_AVATARS:
        recorded = recorded_inputs(reference, (avatar,), [*CALIBRATION_FRAMES, *HELD_OUT_FRAMES])
        calibration += [feeds for _, feeds in recorded[:len(CALIBRATION_FRAMES)]]
        held_out.append(case_of(avatar, recorded[len(CALIBRATION_FRAMES):]))
    say(f"quantising the frame graph to int8, calibrated on {len(calibration)} frames of the bundled avatars")
    quantize_export(folder, out_dir, calibration)
    with OnnxRuntimeBackend(out_dir, threads=1) as int8:
        worst, label = min((lowest_crop_psnr(reference, int8, case), case.label) for case in held_out)
    if worst < MIN_CROP_PSNR_DB:
        return (f"its crop is only {worst:.1f} dB PSNR against fp32's on {label} (frames {HELD_OUT_FRAMES} "
                f"of the bundled clip; it needs {MIN_CROP_PSNR_DB:.0f})")
    say(f"int8 holds: its crop is at least {worst:.1f} dB PSNR against fp32's on every held-out frame (lowest: "
        f"{label})")
    return None


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over recorded feeds (only the inputs the graph has)."""

    def __init__(self, feeds: list[Feeds], names: list[str]) -> None:
        self._it = iter([{n: f[n] for n in names} for f in feeds])

    def get_next(self) -> Feeds | None:
        return next(self._it, None)


class _OrtQuantizationNotes(logging.Filter):
    """ONNX Runtime's quantisation tools log advice through the root logger ("Please consider to run
    pre-processing", which was run; "Quantization parameters ... not specified" for tensors left in float): notes for
    whoever writes the quantisation, not for a user starting the app."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


@contextmanager
def _without_ort_notes() -> Iterator[None]:
    root, notes = logging.getLogger(), _OrtQuantizationNotes()
    root.addFilter(notes)  # a logger's filter sees only what is logged to it directly: other loggers are untouched
    try:
        yield
    finally:
        root.removeFilter(notes)


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
            # without ORT's advice on the root logger, and numpy's note that denormals are flushed (engine.runtime)
            with warnings.catch_warnings(), _without_ort_notes():
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


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def crop_psnr(reference: object, candidate: object, source: np.ndarray, feeds: Feeds) -> float:
    """PSNR of the crop `candidate`'s frame-graph layers make against `reference`'s, on the same `feeds`: mask,
    flow and generated content judged together, in the units a viewer sees (parity.crop_image)."""
    ref = crop_image(source, feeds["grid"], reference.run("frame", feeds))  # type: ignore[attr-defined]
    out = crop_image(source, feeds["grid"], candidate.run("frame", feeds))  # type: ignore[attr-defined]
    return psnr(out, ref)


def lowest_crop_psnr(reference: Backend, candidate: Backend, case: ParityCase) -> float:
    """The lowest PSNR over `case`'s frames of the crop `candidate`'s frame-graph layers make against
    `reference`'s, each from its own encoder's features: end to end."""
    ref_feats = reference.run("encoder", {"source": case.source})
    cand_feats = candidate.run("encoder", {"source": case.source})

    def crop(backend: Backend, feats: Feeds, frame: Feeds) -> np.ndarray:
        return crop_image(case.source, frame["grid"], backend.run("frame", frame_feeds(backend.meta, feats, frame)))

    return min(psnr(crop(candidate, cand_feats, f), crop(reference, ref_feats, f)) for f in case.frames)
