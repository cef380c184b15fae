"""The mouth layer's interior (engine.mouth) on a real avatar: a thin opening shows it over its whole height."""

from __future__ import annotations

import cv2
import numpy as np

from reenact.engine.driver import Driving
from reenact.engine.landmarks import MOUTH_INNER_RING, ring_pairs
from reenact.engine.mesh import Box, polygon_mask
from reenact.engine.mouth import MouthLayer, lab_stats, ring

GAP_PX = 4.0  # a slightly parted mouth on a small face: the astronaut's mouth is about 40 px wide


def parted(astronaut, static_tracker, gap: float = GAP_PX) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The astronaut's landmarks, a target with her lips parted by `gap` px, its inner contour, and a driver: her own
    face (its lips and skin give the colour statistics) with a black interior, wider than the opening so that no
    sample near its edge reads a lip."""
    found = static_tracker.detect(astronaut)
    assert found is not None
    own = found[:, :2].astype(np.float64) - 0.5  # pixel index coordinates, as the renderer passes them
    target = own.copy()
    for upper, lower in ring_pairs(MOUTH_INNER_RING):
        middle = (own[upper] + own[lower]) / 2
        target[upper], target[lower] = middle - [0, gap / 2], middle + [0, gap / 2]
    inner = target[list(MOUTH_INNER_RING)]
    opening = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(inner).astype(np.int32)], 1)
    driver = astronaut.copy()
    driver[cv2.dilate(opening, np.ones((5, 5), np.uint8)) > 0] = 0
    return own, target, inner, driver


def test_a_thin_opening_shows_the_interior_over_its_whole_height(astronaut, static_tracker):
    """Lips parted by 4 px show the driver's mouth interior in every pixel the contour covers, with nothing of what
    lay behind it: a feather inside the contour would leave a thin opening a line and read as closed."""
    own, target, inner, driver = parted(astronaut, static_tracker)
    painted = []
    for behind in (0, 255):
        region = np.full_like(astronaut, behind)
        MouthLayer(astronaut, own).paint(region, target, np.zeros(2), Driving(driver, target))
        painted.append(region.astype(np.int32))
    box = Box.around(inner, astronaut.shape[:2], 0.0)
    assert box is not None
    whole = np.zeros(astronaut.shape[:2], bool)
    whole[box.slices] = polygon_mask(inner, box, 0.0) >= 1.0  # pixels the contour covers entirely
    assert whole.sum() >= 20
    shows = np.abs(painted[1] - painted[0])[whole].max()
    assert shows <= 1, f"what lay behind the interior shows through it by up to {shows} levels"


def opened_by(own: np.ndarray, factor: float) -> np.ndarray:
    """The avatar's own landmarks with her inner lips `factor` times as far apart about their middle line."""
    target = own.copy()
    for upper, lower in ring_pairs(MOUTH_INNER_RING):
        middle = (own[upper] + own[lower]) / 2
        target[upper] = middle + factor * (own[upper] - middle)
        target[lower] = middle + factor * (own[lower] - middle)
    return target


def test_an_avatar_with_her_mouth_open_shows_her_own_teeth_until_the_opening_outgrows_them(astronaut, static_tracker):
    """The astronaut laughs in her photo: an opening a little larger than hers is filled with her own interior (her
    teeth), a much larger one with the driver's (here green, which stays green in her colours)."""
    own, _, _, _ = parted(astronaut, static_tracker)
    shown = {}
    for factor in (1.1, 2.5):
        target = opened_by(own, factor)
        inner = target[list(MOUTH_INNER_RING)]
        opening = np.zeros(astronaut.shape[:2], np.uint8)
        cv2.fillPoly(opening, [np.round(inner).astype(np.int32)], 1)
        driver = astronaut.copy()  # her face with a green interior as large as the opening: the driver's
        driver[cv2.dilate(opening, np.ones((5, 5), np.uint8)) > 0] = (0, 255, 0)
        region = astronaut.copy()
        MouthLayer(astronaut, own).paint(region, target, np.zeros(2), Driving(driver, target))
        box = Box.around(inner, astronaut.shape[:2], 0.0)
        assert box is not None
        whole = polygon_mask(inner, box, 0.0) >= 1.0
        rgb = region[box.slices].astype(np.float64)[whole]
        shown[factor] = float((rgb[:, 1] - (rgb[:, 0] + rgb[:, 2]) / 2).mean())  # how green
    assert shown[1.1] < 10, f"her own teeth should show, not the driver's green: greenness {shown[1.1]:.0f}"
    assert shown[2.5] > 40, f"the driver's (green) interior should show: greenness {shown[2.5]:.0f}"


def test_a_grey_interior_stays_grey_when_the_drivers_face_is_more_evenly_coloured_than_the_avatars(
        astronaut, static_tracker):
    """A driver whose lips and skin differ less in hue than the avatar's (here her own face with its colour contrast
    cut to a quarter) shows grey teeth: in her colours they stay near grey, not pushed past it to the opposite hue."""
    own, _, _, _ = parted(astronaut, static_tracker)
    target = opened_by(own, 3.0)  # far wider than her own opening: the driver's interior, not her teeth
    inner = target[list(MOUTH_INNER_RING)]
    lab = cv2.cvtColor(astronaut.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    stats = lab_stats(astronaut, ring(target), inner)
    assert stats is not None
    lab[..., 1:] = stats[0][1:] + (lab[..., 1:] - stats[0][1:]) / 4.0
    driver = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    cv2.fillPoly(driver, [np.round(inner).astype(np.int32)], (200, 200, 200))  # his teeth: grey
    region = astronaut.copy()
    MouthLayer(astronaut, own).paint(region, target, np.zeros(2), Driving(driver, target))
    box = Box.around(inner, astronaut.shape[:2], 0.0)
    assert box is not None
    whole = cv2.erode((polygon_mask(inner, box, 0.0) >= 1.0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert whole.sum() >= 20
    shown = cv2.cvtColor(region[box.slices].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[whole]
    a, b = float(shown[:, 1].mean()), float(shown[:, 2].mean())
    assert a > -2.0 and b > -2.0, f"grey teeth turned to the opposite hue of her lips: a {a:.1f}, b {b:.1f}"
