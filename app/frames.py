"""The value that travels from sources through the pipeline to sinks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Frame:
    image: NDArray[np.uint8]  # H×W×3 RGB
    index: int
    timestamp_ms: int
