"""Named subsets of MediaPipe's 478-point face mesh.

The warp and the networks see a fixed subset (contours of lips, eyes, brows, oval, nose, iris centres and a few
cheek/chin points): enough to pin every moving part, few enough that a thin-plate spline solves in a millisecond.
The subset is part of a model's identity, so it is written into checkpoints and ONNX metadata.
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 478

LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269,
        270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
LIPS_INNER_TOP = (13, 82, 81, 80, 191, 312, 311, 310, 415)
LIPS_INNER_BOTTOM = (14, 87, 178, 88, 95, 317, 402, 318, 324)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
FACE_OVAL = (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176, 234, 251, 284,
             288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
IRIS_CENTRES = (468, 473)
CHEEKS_CHIN_FOREHEAD = (9, 18, 50, 123, 147, 151, 175, 187, 199, 200, 205, 280, 352, 376, 411, 425)

# Points that move little with expression: the rigid head pose is fitted on these.
RIGID = (6, 168, 197, 195, 5, 4, 33, 133, 362, 263, 10, 151, 9, 127, 356, 234, 454, 1, 98, 327)

# (upper, lower) pairs across the mouth opening and the eyelids, used to keep them from crossing.
LIP_PAIRS = tuple(zip(LIPS_INNER_TOP, LIPS_INNER_BOTTOM, strict=True))
RIGHT_EYE_LID_PAIRS = ((159, 145), (158, 153), (160, 144), (157, 154), (161, 163))
LEFT_EYE_LID_PAIRS = ((386, 374), (385, 380), (387, 373), (384, 381), (388, 390))

# Closed contours, in order around, for the mouth and eye layers: the outer and inner lip contours run side by
# side (the i-th points of both face each other across the lip), as do the eye openings' upper and lower lids.
MOUTH_OUTER_RING = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
MOUTH_INNER_RING = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
RIGHT_EYE_RING = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE_RING = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
LEFT_EYE_CORNERS = (263, 362)
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))  # centre first, then the rim


def ring_pairs(ring: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(upper, lower) pairs across a closed contour that starts at one corner and has the other half-way round."""
    half = len(ring) // 2
    return tuple((ring[i], ring[len(ring) - i]) for i in range(1, half))


# Eye and mouth measures for tests and evaluation: upper/lower lid and lip pairs, and eye corners.
RIGHT_EYE_LIDS = (159, 145)
LEFT_EYE_LIDS = (386, 374)
MOUTH_LIPS = (13, 14)
MOUTH_OUTER = (0, 17)
MOUTH_CORNERS = (61, 291)
EYE_OUTER_CORNERS = (33, 263)
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10


def _unique(*groups: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted({i for g in groups for i in g}))


WARP_SUBSET: tuple[int, ...] = _unique(
    LIPS, LEFT_EYE, RIGHT_EYE, LEFT_BROW, RIGHT_BROW, FACE_OVAL, NOSE, IRIS_CENTRES, CHEEKS_CHIN_FOREHEAD
)


def face_size(points: np.ndarray) -> float:
    """Inter-ocular distance plus eye-to-chin height: a scale that ignores expression and in-plane rotation."""
    p = np.asarray(points)[:, :2]
    eyes = np.linalg.norm(p[EYE_OUTER_CORNERS[0]] - p[EYE_OUTER_CORNERS[1]])
    mid_eye = (p[EYE_OUTER_CORNERS[0]] + p[EYE_OUTER_CORNERS[1]]) / 2
    height = np.linalg.norm(p[CHIN] - mid_eye)
    return float(eyes + height) / 2


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap over face size (0 = closed)."""
    p = np.asarray(points)[:, :2]
    return float(np.linalg.norm(p[MOUTH_LIPS[0]] - p[MOUTH_LIPS[1]]) / face_size(points))


def mouth_height(points: np.ndarray) -> float:
    """Outer-lip height over face size: grows with the jaw even where the lips stay pressed together."""
    p = np.asarray(points)[:, :2]
    return float(np.linalg.norm(p[MOUTH_OUTER[0]] - p[MOUTH_OUTER[1]]) / face_size(points))


def eye_opening(points: np.ndarray) -> float:
    """Mean lid gap of both eyes over face size."""
    p = np.asarray(points)[:, :2]
    r = np.linalg.norm(p[RIGHT_EYE_LIDS[0]] - p[RIGHT_EYE_LIDS[1]])
    lft = np.linalg.norm(p[LEFT_EYE_LIDS[0]] - p[LEFT_EYE_LIDS[1]])
    return float((r + lft) / 2 / face_size(points))


def head_roll(points: np.ndarray) -> float:
    """The eye line's angle to the image's horizontal (radians, positive when the face's left eye is lower)."""
    p = np.asarray(points)[:, :2]
    d = p[EYE_OUTER_CORNERS[1]] - p[EYE_OUTER_CORNERS[0]]
    return float(np.arctan2(d[1], d[0]))


def head_yaw(points: np.ndarray) -> float:
    """Signed horizontal offset of the nose tip from the eye-corner midline, over eye distance (a yaw proxy)."""
    p = np.asarray(points)[:, :2]
    a, b = p[EYE_OUTER_CORNERS[0]], p[EYE_OUTER_CORNERS[1]]
    axis = (b - a) / (np.linalg.norm(b - a) + 1e-9)
    return float(np.dot(p[NOSE_TIP] - (a + b) / 2, axis) / (np.linalg.norm(b - a) + 1e-9))
