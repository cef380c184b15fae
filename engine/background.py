"""The background behind the avatar stays where it is while the head moves over it.

The head-first warp moves everything inside the head's soft outline, and that outline must be wide: hair, neck and
shoulders move with the head, and a tight one tears the jaw from the neck when the head moves. Inside it the
background moved too: a curtain or a landscape beside the head bent with every turn, where the real one does not
move, and a reconstruction of a person filmed in front of a textured background was further from the real frames
than the still avatar (`reenact eval --heldout`). So the person is a layer of its own: MediaPipe's person
segmentation of the avatar, found once, moves with the warp as an alpha; where the moved person does not cover a
pixel the background is shown as it is in the avatar. Where the head moved away and uncovers background the avatar
never showed, a background plate (the avatar with the person filled in from the background around them, once per
avatar) fills the gap, and where the motion reached, the plate also replaces the person's soft edge, which would
leave an outline behind. A still driver costs no pixel: where nothing moved, the avatar is shown as it is.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.landmarks import FACE_OVAL
from reenact.engine.native_log import native_stderr_to_log
from reenact.engine.runtime import denormals_kept
from reenact.engine.warp import smoothstep

log = logging.getLogger(__name__)

EDGE = (0.3, 0.7)  # segmentation confidence over which the person's alpha rises from 0 to 1
FACE_MARGIN = 0.1  # the face oval grown by this share: its outline (cheeks, jaw, ears) always moves whole
MIN_FACE_COVER = 0.6  # a segmentation that covers less of the face oval than this failed (a painting, a mask)
PLATE_SIDE = 192  # the plate is filled at this size (its long side): it only shows in slivers the head uncovers
FILL_RADIUS = 5  # px at PLATE_SIDE
ALPHA_SIDE = 1024  # the person's alpha is kept no larger than this (its long side)
DETAIL_MAX = 24  # grey levels: the most the background's mirrored fine texture adds to or takes from the fill
BAND = 32  # rows of the alpha blended together where the person does not cover the whole band
STILL = 0.01  # px: a map this close to the identity did not move (the render's float rounding, not motion)


def person_confidence(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """MediaPipe's selfie segmentation of an RGB image: per pixel, how sure it is that a person is there."""
    import mediapipe as mp  # heavy import, only where an avatar is prepared

    with denormals_kept(), native_stderr_to_log(log), \
            mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(np.ascontiguousarray(image)).segmentation_mask
    return np.clip(np.asarray(mask, np.float32), 0.0, 1.0)


def face_oval_mask(shape: tuple[int, int], landmarks: NDArray) -> NDArray[np.uint8]:
    """1 inside the hull of the face oval's landmarks (pixel index coordinates), grown by FACE_MARGIN."""
    oval = np.asarray(landmarks, np.float64)[list(FACE_OVAL), :2]
    centre = oval.mean(0)
    grown = centre + (oval - centre) * (1.0 + FACE_MARGIN)
    hull = cv2.convexHull(np.round(grown).astype(np.int32))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def person_alpha(confidence: NDArray[np.float32], face: NDArray[np.uint8]) -> NDArray[np.float32] | None:
    """The person's alpha (1 = the person), the face always in it; None when the segmentation missed the face."""
    inside = face > 0
    if not inside.any() or float((confidence[inside] >= EDGE[0]).mean()) < MIN_FACE_COVER:
        return None
    alpha = smoothstep((confidence - EDGE[0]) / (EDGE[1] - EDGE[0])).astype(np.float32)
    alpha[inside] = 1.0
    return alpha


def background_plate(image: NDArray[np.uint8], alpha: NDArray[np.float32], region: tuple[slice, slice]
                     ) -> NDArray[np.uint8]:
    """The avatar over `region` with the person (and the soft edge around them) filled in from the background around
    them; the fill looks at the whole avatar, but only the region the warp changes is kept."""
    h, w = alpha.shape
    s = min(1.0, PLATE_SIDE / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    hole = cv2.resize((alpha > 0.02).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    hole = cv2.dilate(hole, np.ones((3, 3), np.uint8))  # the fill starts from background with no person in it
    filled = cv2.resize(cv2.inpaint(small, hole, FILL_RADIUS, cv2.INPAINT_TELEA), (w, h),
                        interpolation=cv2.INTER_LINEAR)[region]
    near = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8))[region] > 0
    plate = image[region].copy()
    detail = mirrored_detail(image[region], near, 0.5 / s)
    plate[near] = np.clip(filled[near].astype(np.int16) + detail[near], 0, 255).astype(np.uint8)
    return plate


def mirrored_detail(image: NDArray[np.uint8], hole: NDArray[np.bool_], sigma: float) -> NDArray[np.int16]:
    """The background's fine texture (what a blur of `sigma` px takes away) carried into `hole`, mirrored across the
    hole's edge: a pixel at depth d shows the texture found d px beyond the edge point nearest to it (or, where that
    lies in the hole or off the picture, a half, a quarter, an eighth as far). The plate's fill is smooth (it is made
    small): over a textured wall, fur or foliage a head-sized uncovered patch read as a flat blur; mirrored, the
    texture keeps its grain and its direction at the edge, where the eye compares it with the real background."""
    h, w = hole.shape
    sigma = max(sigma, 0.5)
    # texture is taken from clean background: not within the blur's reach of the person's edge
    reach = 2 * int(np.ceil(2 * sigma)) + 1
    keep = (cv2.dilate(hole.astype(np.uint8), np.ones((reach, reach), np.uint8)) == 0).astype(np.uint8)
    if not hole.any() or not keep.any():
        return np.zeros((h, w, image.shape[2]), np.int16)
    detail = image.astype(np.int16) - cv2.GaussianBlur(image, (0, 0), sigma).astype(np.int16)
    np.clip(detail, -DETAIL_MAX, DETAIL_MAX, out=detail)  # grain, not the edges of things, which would double
    _, labels = cv2.distanceTransformWithLabels(1 - keep, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(hole)
    outside = np.flatnonzero(keep.ravel())  # background pixels, in the order their labels count them (from 1)
    nearest = outside[labels[ys, xs] - 1]
    qy, qx = nearest // w, nearest % w
    out = np.zeros_like(detail)
    todo = np.ones(len(ys), bool)
    for t in (1.0, 0.5, 0.25, 0.125):
        my = np.round(qy + t * (qy - ys)).astype(np.int64)
        mx = np.round(qx + t * (qx - xs)).astype(np.int64)
        ok = todo & (my >= 0) & (my < h) & (mx >= 0) & (mx < w)
        ok[ok] = keep[my[ok], mx[ok]] > 0
        out[ys[ok], xs[ok]] = detail[my[ok], mx[ok]]
        todo &= ~ok
    return out


def coarse_step(shape: tuple[int, int]) -> int:
    """How many avatar pixels one pixel of the person's alpha spans: 1 up to ALPHA_SIDE, more for larger photos,
    whose alpha (made from a 256-px segmentation) is no sharper at full size and would cost its every pixel twice
    a frame, once moved and once blended."""
    return max(1, -(-max(shape) // ALPHA_SIDE))


class BackgroundLayer:
    """One avatar's person alpha and background plate; built once, applied to each frame's warped region."""

    def __init__(self, image: NDArray[np.uint8], alpha: NDArray[np.float32], plate: NDArray[np.uint8]) -> None:
        self.image = image  # the avatar over the warped region
        self.plate = plate  # over the warped region
        self.step = coarse_step(alpha.shape)
        h, w = alpha.shape
        size = (-(-w // self.step), -(-h // self.step))
        # full size, or reduced by `step`: the frame's map samples it at avatar pixel coordinates
        self.alpha = alpha if self.step == 1 else cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        self._to_alpha = np.array([size[0] / w, size[1] / h], np.float32)  # avatar → alpha pixel index coords

    @classmethod
    def build(cls, image: NDArray[np.uint8], landmarks: NDArray, region: tuple[slice, slice]
              ) -> BackgroundLayer | None:
        """The layer over `region` (the rows and columns the warp may change); None when the avatar shows no person
        the segmentation can find around its face: it then moves as a whole inside the head outline, as before."""
        alpha = person_alpha(person_confidence(image), face_oval_mask(image.shape[:2], landmarks))
        if alpha is None:
            log.info("no person segmented around the face: the background moves with the head")
            return None
        return cls(image[region], alpha, background_plate(image, alpha, region))

    def moved(self, mapping: NDArray[np.float32]) -> NDArray[np.float32]:
        """The person's alpha moved by a backward `mapping` (pixels → avatar pixel coords), at the alpha's size."""
        if self.step > 1:
            mapping = (mapping + 0.5) * self._to_alpha - 0.5
        return cv2.remap(self.alpha, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def keep(self, warped: NDArray[np.uint8], mapping: NDArray[np.float32], base: NDArray[np.float32],
             part: tuple[slice, slice]) -> None:
        """Put the still background back into `warped` (the `part` of the region it holds, in place, warped by the
        backward `mapping`; `base` is the part's identity map) wherever the moved person does not cover it. Behind
        the person's soft edge the avatar's pixels are part person: where the motion reaches (1 px or more) the
        plate shows instead, so the edge leaves no outline behind; where nothing moved, the avatar. Only the pixels
        where that changes anything are blended: not inside the person, not where nothing moved."""
        h, w = warped.shape[:2]
        k = self.step
        if k > 1:  # both weights are smooth: made at the alpha's size, at the centre of each k×k block
            coarse = np.array([[k, 0.0, (k - 1) / 2], [0.0, k, (k - 1) / 2]])
            size = (-(-w // k), -(-h // k))

            def shrink(m: NDArray[np.float32]) -> NDArray[np.float32]:
                return cv2.warpAffine(m, coarse, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_REPLICATE)
            mapping, base = shrink(mapping), shrink(base)
        person = self.moved(mapping)
        shift = cv2.subtract(mapping, base)
        reach = np.minimum(cv2.magnitude(shift[..., 0], shift[..., 1]), 1.0)
        need = cv2.dilate(((person < 1.0) & (reach > STILL)).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        plate, image = self.plate[part], self.image[part]
        for rows, cols in _runs(need, BAND):
            if k > 1:
                (a, b), (rows, cols) = _upsampled((person, reach), rows, cols, k, (h, w))
            else:
                a, b = np.ascontiguousarray(person[rows, cols]), np.ascontiguousarray(reach[rows, cols])
            behind = cv2.blendLinear(plate[rows, cols], image[rows, cols], b, 1.0 - b)
            out = warped[rows, cols]
            cv2.blendLinear(out, behind, a, 1.0 - a, dst=out)


def _upsampled(maps: tuple[NDArray[np.float32], ...], rows: slice, cols: slice, k: int, shape: tuple[int, int]
               ) -> tuple[list[NDArray[np.float32]], tuple[slice, slice]]:
    """Blocks `rows` × `cols` of each map upsampled exactly k times, as the whole map upsampled would give them
    (one block of context on each side), and the pixels of `shape` they cover."""
    hs, ws = maps[0].shape
    r0, r1, c0, c1 = max(0, rows.start - 1), min(hs, rows.stop + 1), max(0, cols.start - 1), min(ws, cols.stop + 1)
    y0, x0 = rows.start * k, cols.start * k
    y1, x1 = min(shape[0], rows.stop * k), min(shape[1], cols.stop * k)
    ups = []
    for m in maps:
        up = cv2.resize(np.ascontiguousarray(m[r0:r1, c0:c1]), ((c1 - c0) * k, (r1 - r0) * k),
                        interpolation=cv2.INTER_LINEAR)
        top, left = y0 - r0 * k, x0 - c0 * k
        ups.append(np.ascontiguousarray(up[top:top + y1 - y0, left:left + x1 - x0]))
    return ups, (slice(y0, y1), slice(x0, x1))


def _runs(need: NDArray[np.bool_], band: int) -> list[tuple[slice, slice]]:
    """The boxes, band rows tall, that cover every pixel `need` marks: each band's runs of needed columns."""
    boxes = []
    for y in range(0, need.shape[0], band):
        cols = np.flatnonzero(need[y:y + band].any(axis=0))
        if not len(cols):
            continue
        breaks = np.flatnonzero(np.diff(cols) > 1)
        starts = np.concatenate([[cols[0]], cols[breaks + 1]])
        stops = np.concatenate([cols[breaks], [cols[-1]]]) + 1
        rows = slice(y, min(need.shape[0], y + band))
        boxes.extend((rows, slice(int(a), int(b))) for a, b in zip(starts, stops, strict=True))
    return boxes
