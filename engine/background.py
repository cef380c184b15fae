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
    plate[near] = filled[near]
    return plate


class BackgroundLayer:
    """One avatar's person alpha and background plate; built once, applied to each frame's warped region."""

    def __init__(self, image: NDArray[np.uint8], alpha: NDArray[np.float32], plate: NDArray[np.uint8]) -> None:
        self.image = image  # the avatar over the warped region
        self.alpha = alpha  # full avatar size: the frame's map samples it in avatar pixel coordinates
        self.plate = plate  # over the warped region

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
        """The person's alpha moved by the frame's backward `mapping` (region pixels → avatar pixel coords)."""
        return cv2.remap(self.alpha, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def keep(self, warped: NDArray[np.uint8], moved: NDArray[np.float32], reach: NDArray[np.float32]) -> None:
        """Put the still background back into `warped` (the region, in place) wherever the `moved` person does not
        cover it. Behind the person's soft edge the avatar's pixels are part person: where the motion `reach`es (1 =
        a pixel or more) the plate shows instead, so the edge leaves no outline behind; where nothing moved, the
        avatar."""
        behind = cv2.blendLinear(self.plate, self.image, reach, 1.0 - reach)
        cv2.blendLinear(warped, behind, moved, 1.0 - moved, dst=warped)
