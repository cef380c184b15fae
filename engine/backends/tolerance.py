"""How a backend's outputs are compared with PyTorch fp32 (the parity check's baseline); the bounds per backend
and precision are in the one backend table (backends.formats.BACKENDS).

Errors are measured on every output as max |candidate − baseline| / max(1, max |baseline|): images and masks
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


# Frames written by `reenact demo` (uint8 after H.264 encoding), one backend against another, in grey levels.
# fp32 backends round to the same uint8 almost everywhere; the encoder may spread a one-level difference a little.
# (Measured here, torch-cpu vs onnxruntime-cpu, 24 frames: identical.)
VIDEO_FRAME_TOLERANCE = Tolerance(max_err=8.0, mean_err=0.05)


def scaled_errors(candidate: NDArray, baseline: NDArray) -> tuple[float, float]:
    """(max, mean) of |candidate − baseline| / max(1, max |baseline|)."""
    ref = np.asarray(baseline, dtype=np.float64)
    diff = np.abs(np.asarray(candidate, dtype=np.float64) - ref)
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    return float(diff.max(initial=0.0)) / scale, float(diff.mean()) / scale if diff.size else 0.0
