"""Choosing the driving frame that stands for the avatar's own pose: the neutral pose that relative motion is
measured from.

avatarify's "F" key does this live; offline, the whole driving clip can be searched. A clip that starts mid-laugh
would otherwise make the avatar frown whenever the driver relaxes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import FaceConfig
from reenact.engine.driver import Driving, look
from reenact.engine.face import FaceTracker, Landmarks
from reenact.engine.motion import expression, expression_distance


@dataclass(frozen=True, slots=True)
class NeutralFrame:
    """The driving frame that stands for the avatar's pose: its place in the frames searched, its landmarks, and
    his face in it (his look at that pose, which engine.shading compares his later frames with)."""

    index: int
    landmarks: Landmarks
    look: Driving


def neutral_frame(frames: Iterable[NDArray[np.uint8]], avatar_landmarks: Landmarks,
                  config: FaceConfig | None = None) -> NeutralFrame | None:
    """The frame whose expression is closest to the avatar's (the first of equals); None when no frame has a face.
    Only the best so far is kept: a long clip is searched in the memory of one frame."""
    best: tuple[float, NeutralFrame] | None = None
    target = expression(avatar_landmarks)
    with FaceTracker(config, static=False, smooth=False) as tracker:
        for i, image in enumerate(frames):
            lm = tracker.detect(image)
            if lm is None:
                continue
            score = expression_distance(lm, target)
            if best is None or score < best[0]:
                best = (score, NeutralFrame(i, lm, look(image, lm)))  # a copy: a reader may reuse its buffer
    return None if best is None else best[1]
