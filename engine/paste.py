"""Pasting the animated face crop back into the full avatar image with a feathered edge.

Everything that depends only on the avatar (the region of interest, the warped feather mask and its complement) is
computed once; per frame only the crop is warped into that region and blended there, in place, into a copy of the
avatar. A 6000×4000 photo then costs one uint8 copy and a face-sized blend a frame, not full-image float arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.face import pixel_matrix


def feather_mask(size: int, feather: float) -> NDArray[np.float32]:
    """1 inside, falling smoothly to 0 at the crop border over `feather` of its side."""
    ramp = max(1.0, feather * size)
    c = np.arange(size, dtype=np.float32) + 0.5
    edge = np.minimum(c, size - c) / ramp
    m1 = np.clip(edge, 0.0, 1.0)
    m1 = m1 * m1 * (3 - 2 * m1)  # smoothstep
    return np.outer(m1, m1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class PastePlan:
    """Where the crop lands in the full image, and the blend weights there."""

    x0: int
    y0: int
    x1: int
    y1: int
    matrix: NDArray[np.float64]  # crop pixel indices → ROI pixel indices
    weight: NDArray[np.float32]  # ROI h×w×1 in [0, 1]
    rest: NDArray[np.float32]  # ROI h×w, 1 − weight: the avatar's share

    @classmethod
    def build(cls, to_frame: NDArray, crop_size: int, frame_shape: tuple[int, ...], feather: float) -> PastePlan:
        h, w = frame_shape[:2]
        corners = np.array([[0, 0], [crop_size, 0], [0, crop_size], [crop_size, crop_size]], dtype=np.float64)
        pts = corners @ to_frame[:, :2].T + to_frame[:, 2]
        x0, y0 = np.floor(pts.min(0)).astype(int)
        x1, y1 = np.ceil(pts.max(0)).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        m = pixel_matrix(to_frame)
        m[:, 2] -= (x0, y0)
        weight = cv2.warpAffine(feather_mask(crop_size, feather), m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        return cls(x0, y0, x1, y1, m, weight[..., None], 1.0 - weight)

    def paste(self, frame: NDArray[np.uint8], crop: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """A copy of `frame` with `crop` blended in; outside the paste box the copy is `frame`, bit for bit."""
        out = frame.copy()
        roi = out[self.y0 : self.y1, self.x0 : self.x1]
        warped = cv2.warpAffine(crop, self.matrix, (roi.shape[1], roi.shape[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
        # uint8 in, uint8 out, weights per pixel, written straight into the copy's box: no float image, no second ROI
        cv2.blendLinear(warped, roi, self.weight[..., 0], self.rest, dst=roi)
        return out
