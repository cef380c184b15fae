"""Augmentations that stop a model trained on few people from learning those people.

Measured on franck.mp4: without them a refinement net learns the blue background and paints a blue halo around
every other face. So the background is keyed out and replaced (the same random background for both images of a
pair), and one random colour transform is applied to both images, so colour can only come from the source.
Still photos give identity variety through synthetic pairs: one photo and a randomly warped copy of it, with the
landmarks moved by the same warp. The warp is a random affine plus a smooth random field, NOT the landmark
thin-plate spline the model gets as input, so the model has something real to correct.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.training.config import AugmentConfig


def blue_screen_mask(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """1 where the pixel is franck-style blue background (B−R > 50 and B−G > 25), softened by a small blur."""
    rgb = image.astype(np.int16)
    key = ((rgb[..., 2] - rgb[..., 0]) > 50) & ((rgb[..., 2] - rgb[..., 1]) > 25)
    mask = cv2.morphologyEx(key.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(np.float32)
    return cv2.GaussianBlur(mask, (5, 5), 0)


def random_background(rng: np.random.Generator, photos: tuple[NDArray[np.uint8], ...], size: int) -> NDArray[np.uint8]:
    """A crop of a random photo (sometimes blurred), or a random two-colour gradient."""
    if photos and rng.random() < 0.7:
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(h, w))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        bg = cv2.resize(photo[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            k = int(rng.integers(1, 8)) * 2 + 1
            bg = cv2.GaussianBlur(bg, (k, k), 0)
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        return np.ascontiguousarray(bg)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    angle = rng.uniform(0, 2 * math.pi)
    c = (np.arange(size) + 0.5) / size - 0.5
    xx, yy = np.meshgrid(c, c)
    t = np.clip(xx * math.cos(angle) + yy * math.sin(angle) + 0.5, 0, 1)[..., None]
    return (a * (1 - t) + b * t).astype(np.uint8)


def composite(image: NDArray[np.uint8], mask: NDArray[np.float32], background: NDArray[np.uint8]) -> NDArray[np.uint8]:
    m = mask[..., None]
    return (image.astype(np.float32) * (1 - m) + background.astype(np.float32) * m + 0.5).astype(np.uint8)


class ColorTransform:
    """Channel permutation, gamma and per-channel gain, drawn once and applied to both images of a pair."""

    def __init__(self, rng: np.random.Generator, config: AugmentConfig) -> None:
        self.perm = rng.permutation(3) if rng.random() < 0.5 else np.arange(3)
        self.gamma = float(np.exp(rng.uniform(math.log(config.gamma[0]), math.log(config.gamma[1]))))
        self.gain = rng.uniform(config.gain[0], config.gain[1], 3).astype(np.float32)
        lut = np.clip((np.arange(256) / 255.0) ** self.gamma * 255.0, 0, 255).astype(np.float32)
        self.luts = [np.clip(lut * g + 0.5, 0, 255).astype(np.uint8) for g in self.gain]

    def __call__(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        img = image[..., self.perm]
        return np.stack([cv2.LUT(np.ascontiguousarray(img[..., c]), self.luts[c]) for c in range(3)], -1)


def _bilinear(field: NDArray[np.float32], xy: NDArray) -> NDArray[np.float32]:
    """Sample an H×W×C field at continuous pixel coordinates (pixel centres at +0.5)."""
    h, w = field.shape[:2]
    x = np.clip(xy[:, 0] - 0.5, 0, w - 1.001)
    y = np.clip(xy[:, 1] - 0.5, 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    f = field
    return (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x0 + 1] * fx * (1 - fy)
            + f[y0 + 1, x0] * (1 - fx) * fy + f[y0 + 1, x0 + 1] * fx * fy).astype(np.float32)


def random_warp(
    rng: np.random.Generator, image: NDArray[np.uint8], landmarks: NDArray[np.float32], config: AugmentConfig
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """A warped copy of a face crop and its landmarks moved by the same warp.

    The warp is backward: output pixel p samples the input at B(p) = A·p + d(p) (A a random affine about the
    centre, d a smooth random field). Landmarks are moved by inverting B with a fixed-point iteration.
    """
    size = image.shape[0]
    half = size / 2.0
    ang = math.radians(rng.uniform(-config.still_rotation_deg, config.still_rotation_deg))
    scale = 1.0 + rng.uniform(-config.still_scale, config.still_scale)
    shift = rng.uniform(-config.still_shift, config.still_shift, 2) * size
    lin = scale * np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    n = max(2, config.still_field_points)
    coarse = rng.normal(0, config.still_field * size, (n, n, 2)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)

    c = np.arange(size, dtype=np.float32) + 0.5
    xx, yy = np.meshgrid(c, c)
    px = np.stack([xx, yy], -1) - half
    mapped = px @ lin.T.astype(np.float32) + half + shift.astype(np.float32) + field
    warped = cv2.remap(image, mapped[..., 0] - 0.5, mapped[..., 1] - 0.5, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT101)

    inv = np.linalg.inv(lin)
    target = np.asarray(landmarks, dtype=np.float64)[:, :2]
    p = (target - half - shift) @ inv.T + half
    for _ in range(8):
        p = (target - _bilinear(field, p) - half - shift) @ inv.T + half
    return warped, p.astype(np.float32)


def region_weights(landmarks: NDArray[np.float32], size: int, weight: float) -> NDArray[np.float32]:
    """1 everywhere, 1 + weight over the eyes and the mouth (where the warp alone fails most)."""
    from reenact.engine.landmarks import LEFT_EYE, LIPS, RIGHT_EYE

    w = np.ones((size, size), np.float32)
    if weight <= 0 or not np.isfinite(landmarks).all():
        return w
    mask = np.zeros((size, size), np.uint8)
    for group, grow in ((LIPS, 1.3), (LEFT_EYE, 1.6), (RIGHT_EYE, 1.6)):
        pts = landmarks[list(group), :2]
        centre = pts.mean(0)
        hull = cv2.convexHull(((pts - centre) * grow + centre).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
    return w + weight * mask.astype(np.float32)


def face_mask(landmarks: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """1 inside the face oval (convex hull), 0 elsewhere."""
    from reenact.engine.landmarks import FACE_OVAL

    mask = np.zeros((size, size), np.uint8)
    if np.isfinite(landmarks).all():
        cv2.fillConvexPoly(mask, cv2.convexHull(landmarks[list(FACE_OVAL), :2].astype(np.int32)), 1)
    return mask.astype(np.float32)
