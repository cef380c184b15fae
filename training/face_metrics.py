"""An independent face judge for evaluation: dlib's 68-point landmarks and 128-d face descriptor.

The model is driven by MediaPipe landmarks, so keypoint accuracy must be measured with a different detector
(as the FOMM protocol does), or the warp would be graded by the same tool that built it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reenact.engine.errors import ReenactError

# dlib's 68-point layout, 0-based: the parts of the face the engine's mouth and eye rendering is judged on.
MOUTH = slice(48, 68)  # outer and inner lips
EYES = slice(36, 48)  # both eyes, six points each
MIN_OVERLAP = 0.3  # a detection this close to the expected face box (IoU) is that face


@dataclass(frozen=True, slots=True)
class FaceReading:
    points: NDArray[np.float64]  # 68×2 pixels
    descriptor: NDArray[np.float64]  # 128


class DlibJudge:
    """Face box (dlib HOG detector, or a given box when it finds none), 68 points and descriptor of one image."""

    def __init__(self) -> None:
        try:
            import dlib

            # It finds its model files through pkg_resources, whose import warns about itself (deprecated, and
            # about sys.path entries it scans): nothing a user of reenact can act on.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import face_recognition_models as frm
        except ImportError as exc:
            raise ReenactError(f"evaluation needs the train extra (dlib-bin, face_recognition_models): {exc}") from None
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(frm.pose_predictor_model_location())
        self._encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def box(self, image: NDArray[np.uint8], near: object | None = None) -> object | None:
        """The largest face box dlib finds, or None. With `near` (the box of the face this image should show, e.g.
        the avatar's in an output), the detection that overlaps it most: a small face missed at dlib's first
        scale is searched at the second, where other round things (a badge, a patch) can pass for faces."""
        img = np.ascontiguousarray(image)
        for upsample in (0, 1):
            rects = list(self._detector(img, upsample))
            if near is not None:
                rects = [r for r in rects if _overlap(r, near) >= MIN_OVERLAP]
                if rects:
                    return max(rects, key=lambda r: _overlap(r, near))
            elif rects:
                return max(rects, key=lambda r: r.width() * r.height())
        return None

    def points(self, image: NDArray[np.uint8]) -> NDArray[np.float64] | None:
        """The 68 points of the largest face, or None: the shape alone, without the costly descriptor."""
        img = np.ascontiguousarray(image)
        rect = self.box(img)
        if rect is None:
            return None
        return np.array([(p.x, p.y) for p in self._shape(img, rect).parts()], dtype=np.float64)

    def read(self, image: NDArray[np.uint8], fallback_box: object | None = None, near: object | None = None
             ) -> tuple[FaceReading | None, object | None]:
        """Landmarks and descriptor; the box is detected in this image (the one overlapping `near` when given),
        else `fallback_box` is used."""
        img = np.ascontiguousarray(image)
        rect = self.box(img, near) or fallback_box
        if rect is None:
            return None, None
        shape = self._shape(img, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        desc = np.array(self._encoder.compute_face_descriptor(img, shape), dtype=np.float64)
        return FaceReading(pts, desc), rect


def _overlap(a: object, b: object) -> float:
    """Intersection over union of two dlib rectangles (dlib's own intersect and area)."""
    inter = a.intersect(b).area()  # type: ignore[attr-defined]
    union = a.area() + b.area() - inter  # type: ignore[attr-defined]
    return inter / union if union > 0 else 0.0


def keypoint_distance(a: FaceReading, b: FaceReading, part: slice = slice(None)) -> float:
    """AKD: mean Euclidean distance of the 68 points (or of one `part`, e.g. MOUTH), in pixels."""
    return float(np.linalg.norm(a.points[part] - b.points[part], axis=1).mean())


def identity_distance(a: FaceReading, b: FaceReading) -> float:
    """AED: Euclidean distance of the 128-d descriptors (dlib calls < 0.6 the same person)."""
    return float(np.linalg.norm(a.descriptor - b.descriptor))
