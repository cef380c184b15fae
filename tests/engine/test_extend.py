"""The picture continued beyond its edges: its own pixels untouched, its edges carried outward and softened."""

from __future__ import annotations

import numpy as np

from reenact.engine.extend import Margins, continued, margins_for


def test_margins_reach_as_far_as_the_region_moves_beyond_the_picture():
    # a region cut by the top edge, 20 px inside the left one, 100 px inside the right and bottom ones
    m = margins_for((200, 300), (20.0, -30.0, 200.0, 100.0), 50.0)
    assert m == Margins(left=30, top=50, right=0, bottom=0)
    assert not margins_for((200, 300), (60.0, 60.0, 240.0, 140.0), 50.0).any


def test_the_own_pixels_are_kept_and_each_edge_goes_on_softer_with_distance(astronaut):
    m = Margins(left=40, top=120, right=10, bottom=0)
    out = continued(astronaut, m)
    h, w = astronaut.shape[:2]
    assert out.shape == (h + 120, w + 50, 3) and out.dtype == np.uint8
    assert np.array_equal(out[120:, 40 : 40 + w], astronaut)
    top = out[:120, 40 : 40 + w].astype(np.float32)
    edge = astronaut[0].astype(np.float32)
    assert np.abs(top[-1] - edge).mean() < 3  # the row next to the edge is the edge row, barely blurred
    assert np.abs(top.mean((0, 1)) - edge.mean(0)).max() < 3  # the colours are the edge's, not from inside

    def roughness(line: np.ndarray) -> float:
        return float(np.abs(np.diff(line, axis=0)).mean())

    assert roughness(top[0]) < 0.2 * roughness(top[-1])  # the far end is a blur of it
    side = out[120:, :40].astype(np.float32)  # the left edge carried left, the same way
    assert np.abs(side[:, -1] - astronaut[:, 0]).mean() < 3


def test_a_picture_that_needs_no_margin_is_returned_as_it_is(astronaut):
    assert continued(astronaut, Margins()) is astronaut
    flat = np.full((30, 20, 3), 77, np.uint8)
    assert (continued(flat, Margins(5, 6, 7, 8)) == 77).all()  # corners included
