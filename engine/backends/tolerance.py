"""How closely each backend must match the PyTorch fp32 reference: one table, used by exports and tests alike.

Errors are measured on every output as max |candidate − reference| / max(1, max |reference|): images and masks
live in [0, 1], so for them this is the plain max abs difference; the encoder's features are unbounded and are
judged relative to their own scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Tolerance:
    max_err: float  # on the scaled max abs difference above
    mean_err: float  # on the scaled mean abs difference

    def accepts(self, max_err: float, mean_err: float) -> bool:
        return max_err <= self.max_err and mean_err <= self.mean_err


# (backend name, precision) → tolerance. fp32 runtimes differ from eager torch only by kernel order and fused
# ops (about 1e-5 measured with ONNX Runtime on CPU); GPU fp32 kernels may use TF32; fp16 keeps ~3 decimal digits.
# int8 (dynamic quantisation, weights int8, activations quantised per call) is an approximation of the model:
# its bound is loose and its quality is reported separately by `reenact export --int8`.
TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("torch-cpu", "fp32"): Tolerance(1e-6, 1e-7),
    ("onnxruntime-cpu", "fp32"): Tolerance(1e-4, 1e-5),
    ("onnxruntime-cuda", "fp32"): Tolerance(5e-3, 5e-4),
    ("onnxruntime-cpu", "int8"): Tolerance(0.25, 0.02),
    ("onnxruntime-cuda", "int8"): Tolerance(0.25, 0.02),
    ("torch-cuda", "fp32"): Tolerance(5e-3, 5e-4),
    ("torch-cuda", "fp16"): Tolerance(3e-2, 3e-3),
    ("tensorrt", "fp32"): Tolerance(5e-3, 5e-4),
    ("tensorrt", "fp16"): Tolerance(3e-2, 3e-3),
}

# Frames written by `reenact demo` (uint8 after H.264 encoding), one backend against another, in grey levels.
# fp32 backends round to the same uint8 almost everywhere; the encoder may spread a one-level difference a little.
# (Measured here, torch-cpu vs onnxruntime-cpu, 24 frames: identical.)
VIDEO_FRAME_TOLERANCE = Tolerance(max_err=8.0, mean_err=0.05)


def tolerance_for(backend: str, precision: str) -> Tolerance:
    try:
        return TOLERANCES[(backend, precision)]
    except KeyError:
        raise KeyError(f"no tolerance stated for backend {backend!r} at {precision}") from None


def scaled_errors(candidate: NDArray, reference: NDArray) -> tuple[float, float]:
    """(max, mean) of |candidate − reference| / max(1, max |reference|)."""
    ref = np.asarray(reference, dtype=np.float64)
    diff = np.abs(np.asarray(candidate, dtype=np.float64) - ref)
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    return float(diff.max(initial=0.0)) / scale, float(diff.mean()) / scale if diff.size else 0.0
