"""Fit the animated avatar into the fixed frame size a virtual camera or a recording needs.

Avatars come in any shape (a portrait is taller than a 640×480 call frame). Cropping would cut off the face's
surroundings and plain bars look unfinished, so the image is fitted whole over a blurred, enlarged copy of itself.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

OUTPUT_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))
OUTPUT_FPS: tuple[int, ...] = (15, 24, 25, 30, 60)


def fit_to_frame(image: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """`image` scaled to fit width×height, centred over a blurred fill of the same picture."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(image)
    cover = max(width / w, height / h)
    small = cv2.resize(image, (max(1, round(w * cover / 16)), max(1, round(h * cover / 16))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    fill = cv2.resize(small, (round(w * cover), round(h * cover)), interpolation=cv2.INTER_LINEAR)
    y0, x0 = (fill.shape[0] - height) // 2, (fill.shape[1] - width) // 2
    out = (fill[y0:y0 + height, x0:x0 + width].astype(np.uint16) * 3 // 5).astype(np.uint8)  # darker, so the face leads
    fit = min(width / w, height / h)
    fw, fh = max(1, round(w * fit)), max(1, round(h * fit))
    scaled = cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR)
    y, x = (height - fh) // 2, (width - fw) // 2
    out[y:y + fh, x:x + fw] = scaled
    return out


def fill_around(image: NDArray[np.uint8], size: tuple[int, int], centre: tuple[float, float]) -> NDArray[np.uint8]:
    """`image` scaled to fill `size` (w, h), cut around `centre` (the face) where the aspect ratios differ."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    sw, sh = max(w, round(iw * scale)), max(h, round(ih * scale))
    resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    x0 = int(np.clip(round(centre[0] * scale - w / 2), 0, sw - w))
    y0 = int(np.clip(round(centre[1] * scale - h / 2), 0, sh - h))
    return resized[y0 : y0 + h, x0 : x0 + w]
