"""What the driver lends the render beyond his landmarks: his frame, and his reference frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MARGIN = 0.15  # a face cut reaches this share of the landmarks' extent beyond them


@dataclass(frozen=True, slots=True)
class Driving:
    """A driving frame and its landmarks (pixel index coordinates of that frame). `reference` is the driver's frame
    whose pose the avatar's own stands for, as the same pair: what his face looked like when hers looks as it does,
    so that a change of his look (the folds of a smile) can be told from his looks (his skin, his light)."""

    image: NDArray[np.uint8]
    points: NDArray[np.float64]
    reference: Driving | None = None


def look(image: NDArray[np.uint8], landmarks: NDArray) -> Driving:
    """The part of a frame around its face (`landmarks` in continuous pixel coordinates, as the tracker gives them),
    as a Driving of its own: what is kept of a reference frame, so that keeping one, or the last few seconds'
    candidates, costs a face and not a frame."""
    p = np.asarray(landmarks, np.float64)[:, :2] - 0.5  # index coordinates: pixel centres at integers
    margin = MARGIN * float(np.ptp(p, axis=0).max()) + 2.0
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(np.floor(v - margin))) for v in p.min(0))
    x1, y1 = min(w, int(np.ceil(p[:, 0].max() + margin)) + 1), min(h, int(np.ceil(p[:, 1].max() + margin)) + 1)
    return Driving(image[y0:y1, x0:x1].copy(), p - [x0, y0])
