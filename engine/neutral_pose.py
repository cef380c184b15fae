"""Choosing the driving frame that stands for the avatar's own pose: the neutral pose that relative motion is
measured from.

avatarify's "F" key does this live; offline, the whole driving clip can be searched. A clip that starts mid-laugh
would otherwise make the avatar frown whenever the driver relaxes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from reenact.engine.config import FaceConfig
from reenact.engine.face import FaceTracker, Landmarks
from reenact.engine.motion import closest_expression


def neutral_frame(frames: Iterable[NDArray[np.uint8]], avatar_landmarks: Landmarks,
                  config: FaceConfig | None = None) -> tuple[int, Landmarks] | None:
    """Index and landmarks of the frame whose expression is closest to the avatar's; None when no frame has a
    face."""
    found: list[tuple[int, Landmarks]] = []
    with FaceTracker(config, static=False, smooth=False) as tracker:
        for i, image in enumerate(frames):
            lm = tracker.detect(image)
            if lm is not None:
                found.append((i, lm))
    if not found:
        return None
    return found[closest_expression([lm for _, lm in found], avatar_landmarks)]


def neutral_reference(frames: Iterable[NDArray[np.uint8]], avatar_landmarks: Landmarks,
                      config: FaceConfig | None = None) -> Landmarks | None:
    """Landmarks of the frame whose expression is closest to the avatar's; None when no frame has a face."""
    best = neutral_frame(frames, avatar_landmarks, config)
    return None if best is None else best[1]
