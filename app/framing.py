"""Put the animated avatar into the fixed frame a virtual camera or a recording needs, as a webcam frames a person.

A call shows a head and shoulders at 16:9. Fitting a whole portrait into that frame (as "whole portrait" still
does) leaves the face a tenth of the frame high: a picture of a painting, not a person. "Head and shoulders"
(the default) instead scales and crops the avatar around its face so the face is about 40 % of the frame height,
with the frame filled by the avatar's own pixels; only where the portrait ends is it continued (each edge carried
outward, blurring with distance), so there are never bars.

The framing is steady by construction: it comes from the avatar's own landmarks (found once per avatar, not per
frame), and follows the head the warp moves only slowly (`SteadyHead`), so landmark jitter never shakes the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.extend import Margins, continued

OUTPUT_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080))
DEFAULT_SIZE = (1280, 720)  # what call apps send as HD; 640×480 is the old webcam default and looks dated
OUTPUT_FPS: tuple[int, ...] = (15, 24, 25, 30, 60)
FRAMINGS = ("head", "portrait")
FACE_SHARE = 0.40  # face height (MediaPipe's mesh: mid-forehead to chin) over frame height, at zoom 1
FACE_CENTRE = 0.42  # the face's centre from the top, over frame height: eyes near the upper third, shoulders in
ZOOM_RANGE = (0.6, 1.6)
FILL_STEP = 4  # beyond the picture's edge the frame is filled from a continuation made this many times smaller
FILL_SPREAD = 1.5  # its blur along the edge per pixel of distance: a backdrop soon out of focus, not streaks
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
    """Head-and-shoulders framing of `image` around `face`, `size` (w, h) filled.

    The framing is a pure scale and shift, so the picture is resized (cv2.resize: several times cheaper than an
    affine warp of the whole output frame, which cost more than the rest of the output stage) and placed at the
    nearest whole pixel; only the part of the picture in view is resized."""
    w, h = size
    s, tx, ty = head_scale_and_shift(face, size, framing)
    ih, iw = image.shape[:2]
    # the source pixels in view (index coordinates), one pixel of margin for the interpolation
    c0, c1 = _in_view(s, tx, iw, w)
    r0, r1 = _in_view(s, ty, ih, h)
    part = image[r0:r1, c0:c1]
    pw, ph = max(1, round((c1 - c0) * s)), max(1, round((r1 - r0) * s))
    scaled = cv2.resize(part, (pw, ph), interpolation=cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR)
    # continuous → output pixels: out = s · src + t, and the part's pixel 0 starts at the source's c0, r0
    x, y = round(tx + s * c0), round(ty + s * r0)
    return _place(scaled, x, y, w, h)


def _in_view(s: float, t: float, n: int, out_n: int) -> tuple[int, int]:
    """The source index range [lo, hi) whose pixels land in [0, out_n) of the output (out = s · src + t), one
    pixel wider on each side; never empty."""
    lo = int(np.clip(math.floor(-t / s) - 1, 0, n - 1))
    hi = int(np.clip(math.ceil((out_n - t) / s) + 1, lo + 1, n))
    return lo, hi


def _place(scaled: NDArray[np.uint8], x: int, y: int, w: int, h: int) -> NDArray[np.uint8]:
    """The w×h frame with `scaled`'s pixel (0, 0) at (x, y); where it does not reach, its edges continued."""
    sh, sw = scaled.shape[:2]
    inner = scaled[max(0, -y) : max(0, min(sh, h - y)), max(0, -x) : max(0, min(sw, w - x))]
    if inner.size == 0:  # nothing of the picture in view: its nearest edge stretched over the frame
        return cv2.resize(scaled, (w, h), interpolation=cv2.INTER_LINEAR)
    top, left = max(0, y), max(0, x)
    ih, iw = inner.shape[:2]
    if (top, left, ih, iw) == (0, 0, h, w):
        return np.ascontiguousarray(inner)
    out = np.empty((h, w, 3), np.uint8)
    out[top : top + ih, left : left + iw] = inner
    _continue_outside(out, inner, (left, left + iw, top, top + ih))
    return out


def _continue_outside(out: NDArray[np.uint8], inner: NDArray[np.uint8], shown: tuple[int, int, int, int]) -> None:
    """Fill the frame outside `shown` (where `inner` lies) with the picture's edges carried outward and blurred
    along themselves with distance (engine.extend), in place. Mirrored, a portrait cut close around the face showed
    its chin upside down below the chin and its ears beside the ears, and a blur of the mirror the faces again,
    softened. The continuation is made at 1/FILL_STEP of the frame's size (beyond its first few pixels it is a wide
    blur) and enlarged only where it shows."""
    h, w = out.shape[:2]
    x0, x1, y0, y1 = shown
    gw, gh = max(1, -(-w // FILL_STEP)), max(1, -(-h // FILL_STEP))
    gx0, gy0 = min(gw - 1, round(x0 * gw / w)), min(gh - 1, round(y0 * gh / h))
    gx1, gy1 = max(gx0 + 1, round(x1 * gw / w)), max(gy0 + 1, round(y1 * gh / h))
    # every other pixel, then averaged: the area average of a whole 1080p picture cost more than the rest of this
    half = cv2.resize(inner, (max(1, inner.shape[1] // 2), max(1, inner.shape[0] // 2)),
                      interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(half, (gx1 - gx0, gy1 - gy0), interpolation=cv2.INTER_AREA)
    grown = continued(small, Margins(gx0, gy0, max(0, gw - gx1), max(0, gh - gy1)), FILL_SPREAD)[:gh, :gw]
    for ys, xs in _outside_strips(w, h, x0, x1, y0, y1):
        out[ys, xs] = _enlarged(grown, (w, h), (ys, xs))


def _enlarged(small: NDArray[np.uint8], size: tuple[int, int], part: tuple[slice, slice]) -> NDArray[np.uint8]:
    """`small` enlarged to `size` (w, h) as cv2.resize does it, made for the frame pixels `part` alone: the part of
    `small` under it (two pixels wider, for the interpolation) is enlarged and cut."""
    (ys, xs), (w, h) = part, size
    sh, sw = small.shape[:2]

    def span(sl: slice, n: int, full: int) -> tuple[int, int, int, int]:
        lo = max(0, int(sl.start * n / full) - 2)
        hi = min(n, int(math.ceil(sl.stop * n / full)) + 2)
        return lo, hi, round(lo * full / n), round(hi * full / n)

    r0, r1, y0, y1 = span(ys, sh, h)
    c0, c1, x0, x1 = span(xs, sw, w)
    big = cv2.resize(small[r0:r1, c0:c1], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return big[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]


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
