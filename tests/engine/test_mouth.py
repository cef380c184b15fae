"""The mouth layer's interior (engine.mouth) on a real avatar: a thin opening shows it over its whole height."""

from __future__ import annotations

import cv2
import numpy as np

from reenact.engine.landmarks import MOUTH_INNER_RING, ring_pairs
from reenact.engine.mesh import Box, polygon_mask
from reenact.engine.mouth import MouthLayer

GAP_PX = 4.0  # a slightly parted mouth on a small face: the astronaut's mouth is about 40 px wide


def test_a_thin_opening_shows_the_interior_over_its_whole_height(astronaut, static_tracker):
    """Lips parted by 4 px show the driver's mouth interior in every pixel inside the contour, not blended with
    what lies behind it: a feather inside the contour would leave a thin opening a line and read as closed."""
    found = static_tracker.detect(astronaut)
    assert found is not None
    own = found[:, :2].astype(np.float64) - 0.5  # pixel index coordinates, as the renderer passes them
    target = own.copy()
    for upper, lower in ring_pairs(MOUTH_INNER_RING):
        middle = (own[upper] + own[lower]) / 2
        target[upper], target[lower] = middle - [0, GAP_PX / 2], middle + [0, GAP_PX / 2]
    inner = target[list(MOUTH_INNER_RING)]

    # The driver: the avatar's own face (its lips and skin give the colour statistics) with a black interior, wider
    # than the opening so that no sample near its edge reads a lip.
    opening = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(inner).astype(np.int32)], 1)
    driver = astronaut.copy()
    driver[cv2.dilate(opening, np.ones((5, 5), np.uint8)) > 0] = 0
    layer = MouthLayer(astronaut, own)
    region = np.full_like(astronaut, 255)
    layer.paint(region, target, np.zeros(2), (driver, target))

    box = Box.around(inner, region.shape[:2], 0.0)
    assert box is not None
    whole = np.zeros(region.shape[:2], bool)
    whole[box.slices] = polygon_mask(inner, box, 0.0) >= 1.0  # pixels the contour covers entirely
    assert whole.sum() >= 20
    painted = region[whole].astype(np.int32)
    assert (painted < 250).all(), "pixels inside the opening still show what lay behind the interior"
    assert np.ptp(painted, axis=0).max() <= 3, f"the interior is not uniform inside the contour: {np.ptp(painted, 0)}"
