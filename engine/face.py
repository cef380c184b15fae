"""Face landmarks (MediaPipe face mesh, 478 points with iris), temporal smoothing, and the square face crop.

MediaPipe 0.10.21 is used because its wheel bundles the face-mesh models: nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import TracebackType

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import CropConfig, FaceConfig, OneEuroConfig
from reenact.engine.landmarks import (
    IRISES,
    LEFT_EYE_RING,
    MOUTH_INNER_RING,
    MOUTH_OUTER_RING,
    NUM_LANDMARKS,
    RIGHT_EYE_RING,
)
from reenact.engine.native_log import native_stderr_to_log

log = logging.getLogger(__name__)

Landmarks = NDArray[np.float32]  # (478, 3): x, y in pixels of the frame they came from; z in the same scale
# The points that open and close (lids, lips) and the irises: the smoothing lets them follow faster.
OPENING_POINTS = np.unique(np.concatenate([RIGHT_EYE_RING, LEFT_EYE_RING, MOUTH_INNER_RING, MOUTH_OUTER_RING,
                                           *IRISES])).astype(np.intp)


class OneEuroFilter:
    """One-euro filter (Casiez et al., CHI 2012) over an array of any shape, vectorised.

    Adapts its cut-off to the speed of the signal: still faces stay still, fast head turns do not lag.
    """

    def __init__(self, config: OneEuroConfig, fast: NDArray[np.intp] | None = None) -> None:
        """`fast`: rows of the filtered array (landmarks) whose cut-offs and speed gain (beta) are
        `config.openings_speedup` times higher."""
        self.config = config
        self.fast = fast
        self._x: NDArray[np.float64] | None = None
        self._dx: NDArray[np.float64] | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff: float | NDArray[np.float64], dt: float) -> float | NDArray[np.float64]:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def _per_row(self, value: float, shape: tuple[int, ...]) -> float | NDArray[np.float64]:
        """A setting, `openings_speedup` times larger on the fast rows (broadcast over the rest of `shape`)."""
        if self.fast is None:
            return value
        rows = np.full((shape[0],) + (1,) * (len(shape) - 1), value)
        rows[self.fast] = value * self.config.openings_speedup
        return rows

    def __call__(self, x: NDArray, t: float) -> NDArray:
        """Filter sample x taken at time t (seconds)."""
        if not self.config.enabled:
            return x
        xf = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or self._x.shape != xf.shape or t <= self._t:
            self._x, self._dx, self._t = xf.copy(), np.zeros_like(xf), t
            return x
        dt = t - self._t
        dx = (xf - self._x) / dt
        # The fast rows' speed is followed as fast as their place: a speed smoothed at the head's 1 Hz is still near
        # zero when a blink is over, and the cut-off it should raise stays low (the lids shut late and half-way).
        a_d = self._alpha(self._per_row(self.config.d_cutoff, xf.shape), dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        beta = self._per_row(self.config.beta, xf.shape)
        cutoff = self._per_row(self.config.min_cutoff, xf.shape) + beta * np.abs(self._dx)
        a = self._alpha(cutoff, dt)
        self._x = a * xf + (1 - a) * self._x
        self._t = t
        return self._x.astype(np.asarray(x).dtype)


class FaceTracker:
    """MediaPipe face mesh on RGB frames; picks the largest face; optionally smooths over time.

    `static=True` runs detection on every image (avatars, unrelated stills); `static=False` tracks across the
    frames of one stream, which is faster and steadier.
    """

    def __init__(self, config: FaceConfig | None = None, *, static: bool = False, smooth: bool | None = None) -> None:
        import mediapipe as mp  # heavy import, only where a tracker is made

        self.config = config or FaceConfig()
        self.static = static
        with native_stderr_to_log(log):
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=static,
                max_num_faces=max(1, self.config.max_faces),
                refine_landmarks=True,
                min_detection_confidence=self.config.min_detection_confidence,
                min_tracking_confidence=self.config.min_tracking_confidence,
            )
            # The models start, and log, on threads of their own: a first (empty) frame waits for them.
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        self._starting = True  # and the first frame with a face logs once more
        use_filter = (not static) if smooth is None else smooth
        self._filter = OneEuroFilter(self.config.smoothing, OPENING_POINTS) if use_filter else None
        self._closed = False

    def set_smoothing(self, config: OneEuroConfig) -> None:
        if self._filter is not None:
            self._filter.config = config

    def reset(self) -> None:
        if self._filter is not None:
            self._filter.reset()

    def detect(self, rgb: NDArray[np.uint8], timestamp_s: float | None = None) -> Landmarks | None:
        """Landmarks of the largest face in an RGB uint8 frame, or None when there is no face."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        result = self._process(np.ascontiguousarray(rgb))
        faces = result.multi_face_landmarks or []
        if not faces:
            return None
        best, best_area = None, -1.0
        for face in faces:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in face.landmark], dtype=np.float32)
            area = float(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]))
            if area > best_area:
                best, best_area = pts, area
        assert best is not None and best.shape == (NUM_LANDMARKS, 3)
        if self._filter is not None and timestamp_s is not None:
            best = self._filter(best, timestamp_s)
        return best

    def _process(self, rgb: NDArray[np.uint8]):  # MediaPipe's NamedTuple of results
        if not self._starting:
            return self._mesh.process(rgb)
        with native_stderr_to_log(log):
            result = self._mesh.process(rgb)
        self._starting = not result.multi_face_landmarks
        return result

    def close(self) -> None:
        if not self._closed:
            self._mesh.close()
            self._closed = True

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class CropBox:
    """A square region of a frame: centre and side in pixels."""

    cx: float
    cy: float
    side: float

    def matrix(self, size: int) -> NDArray[np.float64]:
        """2×3 affine from frame coordinates to crop coordinates (continuous: pixel i spans [i, i+1))."""
        s = size / self.side
        return np.array([[s, 0.0, size / 2 - s * self.cx], [0.0, s, size / 2 - s * self.cy]])


def crop_box(landmarks: Landmarks, config: CropConfig) -> CropBox:
    """Square box around the landmarks, `scale` times their extent, moved up by `offset` of its side."""
    xy = landmarks[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    side = float(max(hi - lo) * config.scale)
    cx, cy = (lo + hi) / 2
    return CropBox(float(cx), float(cy - config.offset * side), side)


@dataclass(frozen=True, slots=True)
class FaceCrop:
    """A face crop and the matrices that go between it and the frame it came from."""

    image: NDArray[np.uint8]  # size×size×3 RGB
    landmarks: Landmarks  # in crop pixels
    to_crop: NDArray[np.float64]  # 2×3, frame → crop
    to_frame: NDArray[np.float64]  # 2×3, crop → frame


def transform_points(points: NDArray, matrix: NDArray) -> NDArray[np.float32]:
    """Apply a 2×3 affine to the x, y of points (z scaled by the same factor)."""
    pts = np.asarray(points, dtype=np.float64)
    xy = pts[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    if pts.shape[1] == 2:
        return xy.astype(np.float32)
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    return np.concatenate([xy, pts[:, 2:] * scale], axis=1).astype(np.float32)


def pixel_matrix(matrix: NDArray) -> NDArray[np.float64]:
    """The same affine for pixel indices (pixel centres at integers), as cv2.warpAffine expects."""
    m = np.asarray(matrix, dtype=np.float64).copy()
    m[:, 2] += m[:, :2].sum(axis=1) * 0.5 - 0.5
    return m


def crop_face(image: NDArray[np.uint8], landmarks: Landmarks, box: CropBox, size: int) -> FaceCrop:
    """Cut the box out of the frame at size×size.

    Parts outside the frame (a face cut by the photo's edge) are the frame mirrored there: repeating the edge
    pixels instead smears them into streaks that the warp then stretches over the face.
    """
    to_crop = box.matrix(size)
    to_frame = cv2.invertAffineTransform(to_crop)
    return FaceCrop(cut(image, to_crop, size), transform_points(landmarks, to_crop), to_crop, to_frame)


def cut(image: NDArray[np.uint8], to_crop: NDArray[np.float64], size: int) -> NDArray[np.uint8]:
    """The size×size crop that the frame → crop affine `to_crop` describes (mirrored beyond the frame's edge)."""
    shrink = abs(np.linalg.det(to_crop[:, :2])) < 1.0
    return cv2.warpAffine(image, pixel_matrix(to_crop), (size, size),
                          flags=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
