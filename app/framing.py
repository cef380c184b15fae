"""Put the animated avatar into the fixed frame a virtual camera or a recording needs, as a webcam frames a person.

A call shows a head and shoulders at 16:9. Fitting a whole portrait into that frame (as "whole portrait" still
does) leaves the face a tenth of the frame high: a picture of a painting, not a person. "Head and shoulders"
(the default) instead scales and crops the avatar around its face so the face is about 40 % of the frame height,
with the frame filled by the avatar's own pixels; only where the portrait ends is its border extended (mirrored,
fading into a blur of itself), so there are never bars.

The framing is steady by construction: it comes from the avatar's own landmarks (found once per avatar, not per
frame), and follows the head the warp moves only slowly (`SteadyHead`), so landmark jitter never shakes the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

OUTPUT_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080))
DEFAULT_SIZE = (1280, 720)  # what call apps send as HD; 640×480 is the old webcam default and looks dated
OUTPUT_FPS: tuple[int, ...] = (15, 24, 25, 30, 60)
FRAMINGS = ("head", "portrait")
FACE_SHARE = 0.40  # face height (MediaPipe's mesh: mid-forehead to chin) over frame height, at zoom 1
FACE_CENTRE = 0.42  # the face's centre from the top, over frame height: eyes near the upper third, shoulders in
ZOOM_RANGE = (0.6, 1.6)
OFFSET_RANGE = (-0.2, 0.2)


@dataclass(frozen=True, slots=True)
class Framing:
    """How the avatar fills the output frame.

    mode "head": head and shoulders, the face FACE_SHARE × zoom of the frame height, its centre at FACE_CENTRE +
    offset of the height from the top (a positive offset moves the face down). mode "portrait": the whole picture,
    fitted over a blurred copy of itself.
    """

    mode: str = "head"
    zoom: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, not {self.mode!r}")
        if not ZOOM_RANGE[0] <= self.zoom <= ZOOM_RANGE[1]:
            raise ValueError(f"zoom must be within {ZOOM_RANGE}, not {self.zoom}")
        if not OFFSET_RANGE[0] <= self.offset <= OFFSET_RANGE[1]:
            raise ValueError(f"offset must be within {OFFSET_RANGE}, not {self.offset}")


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A face's centre and height in the pixels of the image it is in (continuous: pixel i spans [i, i+1))."""

    cx: float
    cy: float
    height: float

    @classmethod
    def around(cls, points: NDArray) -> FaceBox:
        """The box of a face's landmarks (x, y in the first two columns)."""
        xy = np.asarray(points, np.float64)[:, :2]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        return cls(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, max(float(hi[1] - lo[1]), 1.0))


def head_scale_and_shift(face: FaceBox, size: tuple[int, int], framing: Framing) -> tuple[float, float, float]:
    """(s, tx, ty) with output = s · image + (tx, ty) in continuous pixel coordinates."""
    w, h = size
    s = FACE_SHARE * framing.zoom * h / face.height
    return s, w / 2 - s * face.cx, (FACE_CENTRE + framing.offset) * h - s * face.cy


def frame_head(image: NDArray[np.uint8], face: FaceBox, size: tuple[int, int], framing: Framing
               ) -> NDArray[np.uint8]:
    """Head-and-shoulders framing of `image` around `face`, `size` (w, h) filled."""
    w, h = size
    s, tx, ty = head_scale_and_shift(face, size, framing)
    sx = sy = s
    src = image
    if s < 1.0:  # a downscale: area-average first, warpAffine's bilinear would alias
        ih, iw = image.shape[:2]
        rw, rh = max(1, round(iw * s)), max(1, round(ih * s))
        src = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
        sx, sy = s * iw / rw, s * ih / rh  # what is left of the scale (about 1)
    # continuous → pixel-index coordinates: out_idx = a · src_idx + (t + (a − 1) / 2)
    matrix = np.array([[sx, 0.0, tx + (sx - 1) / 2], [0.0, sy, ty + (sy - 1) / 2]])
    out = cv2.warpAffine(src, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    _soften_outside(out, src.shape[:2], matrix, ramp=0.3 * face.height * s)
    return out


def _soften_outside(out: NDArray[np.uint8], src_shape: tuple[int, ...], matrix: NDArray[np.float64],
                    ramp: float) -> None:
    """Where the frame shows more than the image has, the mirrored border fades into a wide blur of itself, so the
    portrait's edge continues smoothly and no mirrored detail stands out (in place)."""
    h, w = out.shape[:2]
    sh, sw = src_shape[:2]
    (a, _, bx), (_, d, by) = matrix
    # the output pixels [x0, x1) × [y0, y1) show the image itself (its edges are at index −0.5 and size − 0.5)
    x0 = int(np.clip(math.ceil(bx - 0.5 * a), 0, w))
    x1 = int(np.clip(math.floor(a * (sw - 0.5) + bx) + 1, 0, w))
    y0 = int(np.clip(math.ceil(by - 0.5 * d), 0, h))
    y1 = int(np.clip(math.floor(d * (sh - 0.5) + by) + 1, 0, h))
    if x0 == 0 and y0 == 0 and x1 == w and y1 == h:
        return
    small = cv2.resize(out, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.5), (w, h), interpolation=cv2.INTER_LINEAR)
    # distance outside the image, in output pixels, per column and per row
    cols = np.arange(w, dtype=np.float32)
    rows = np.arange(h, dtype=np.float32)
    dx = np.maximum(np.maximum(x0 - cols, cols - (x1 - 1)), 0)
    dy = np.maximum(np.maximum(y0 - rows, rows - (y1 - 1)), 0)
    ramp = max(float(ramp), 1.0)
    for ys, xs in _outside_strips(w, h, x0, x1, y0, y1):
        weight = np.clip(np.hypot(dy[ys, None], dx[None, xs]) / ramp, 0.0, 1.0).astype(np.float32)
        part = np.ascontiguousarray(out[ys, xs])
        out[ys, xs] = cv2.blendLinear(np.ascontiguousarray(blurred[ys, xs]), part, weight, 1.0 - weight)


def _outside_strips(w: int, h: int, x0: int, x1: int, y0: int, y1: int) -> list[tuple[slice, slice]]:
    """Top and bottom bands over the full width, left and right bands between them: the frame outside the image."""
    strips = [(slice(0, y0), slice(0, w)), (slice(y1, h), slice(0, w)),
              (slice(y0, y1), slice(0, x0)), (slice(y0, y1), slice(x1, w))]
    return [(ys, xs) for ys, xs in strips if ys.stop > ys.start and xs.stop > xs.start]


def fit_to_frame(image: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """`image` scaled to fit width×height, centred over a blurred fill of the same picture (whole portrait)."""
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
    """`image` scaled to fill `size` (w, h), cut around `centre` where the aspect ratios differ (no bars). What a
    webcam frame gets in passthrough."""
    w, h = size
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return np.ascontiguousarray(image)
    scale = max(w / iw, h / ih)
    sw, sh = max(w, round(iw * scale)), max(h, round(ih * scale))
    resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    x0 = int(np.clip(round(centre[0] * scale - w / 2), 0, sw - w))
    y0 = int(np.clip(round(centre[1] * scale - h / 2), 0, sh - h))
    return resized[y0 : y0 + h, x0 : x0 + w]


def frame_image(image: NDArray[np.uint8], size: tuple[int, int], framing: Framing, face: FaceBox | None
                ) -> NDArray[np.uint8]:
    """The output frame: head framing around `face`, or the whole picture (portrait framing, or no face known)."""
    if framing.mode == "head" and face is not None:
        return frame_head(image, face, size, framing)
    return fit_to_frame(image, *size)


class SteadyHead:
    """The face box a head framing uses: the avatar's own, moved only when the warp takes the head far from it.

    The avatar's face box is known once per avatar; the head moves only by the warp. Following the moving head
    frame by frame would pass the driver's landmark jitter on to the whole picture, and even a slow glide back after
    every nod keeps the picture drifting. So, like a webcam on a stand, the box stays put while the head moves within
    a dead zone around it (a third of a face height: nods, turns and talking stay inside) and only a head that goes
    further pulls it along, easing (a time constant of about a second, never slower than `min_speed` face heights a
    second, so it comes to a stop) until the head is back at the zone's edge. Its height never changes (no
    breathing zoom).
    """

    def __init__(self, home: FaceBox, time_constant_s: float = 1.0, dead_zone: float = 0.3,
                 min_speed: float = 0.2) -> None:
        self.home = home
        self.current = home
        self.time_constant_s = time_constant_s
        self.dead_zone = dead_zone  # in face heights
        self.min_speed = min_speed  # face heights per second
        self._t: float | None = None

    def follow(self, centre: tuple[float, float], t: float) -> FaceBox:
        """The box for a frame at time `t` (seconds) whose head is centred at `centre` (the image's pixels)."""
        dt = 0.0 if self._t is None else min(max(t - self._t, 0.0), 0.5)
        self._t = t
        cur = self.current
        vx, vy = centre[0] - cur.cx, centre[1] - cur.cy
        length = math.hypot(vx, vy)
        remaining = length - self.dead_zone * self.home.height  # how far the head is past the zone's edge
        if remaining <= 0 or dt == 0:
            return cur
        eased = remaining * (1.0 - math.exp(-dt / self.time_constant_s)) if self.time_constant_s > 0 else remaining
        step = min(remaining, max(eased, self.min_speed * self.home.height * dt))
        self.current = FaceBox(cur.cx + vx / length * step, cur.cy + vy / length * step, cur.height)
        return self.current
