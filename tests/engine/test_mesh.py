"""Piecewise-affine maps over small meshes (engine.mesh): exact corners, exact identities, no gaps, no stray pixels."""

from __future__ import annotations

import numpy as np
import pytest

from reenact.engine.mesh import (
    Box,
    band_triangles,
    fan_triangles,
    label_triangles,
    moved_against,
    overwrite_map,
    polygon_mask,
    sample_map,
    segment_similarity,
    triangle_affines,
)


def identity_map(h: int, w: int) -> np.ndarray:
    """h×w×2 backward map whose every pixel samples itself (x, y), as the renderer's base map is."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


def square(centre: tuple[float, float], half: float, per_side: int) -> np.ndarray:
    """A square contour, `per_side` points a side, clockwise in the image (y down) from its top-left corner."""
    t = np.arange(per_side) / per_side
    cx, cy = centre
    top = np.stack([cx - half + 2 * half * t, np.full_like(t, cy - half)], 1)
    right = np.stack([np.full_like(t, cx + half), cy - half + 2 * half * t], 1)
    bottom = np.stack([cx + half - 2 * half * t, np.full_like(t, cy + half)], 1)
    left = np.stack([np.full_like(t, cx - half), cy + half - 2 * half * t], 1)
    return np.concatenate([top, right, bottom, left])


def circle(centre: tuple[float, float], radius: float, n: int) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], 1)


def test_a_triangles_affine_maps_its_corners_exactly():
    rng = np.random.default_rng(0)
    dst = rng.uniform(0, 100, (3, 2))
    src = rng.uniform(0, 100, (3, 2))
    tri = np.array([[0, 1, 2]], np.int32)
    affines, usable = triangle_affines(dst, src, tri)
    assert usable.tolist() == [True]
    mapped = np.concatenate([dst, np.ones((3, 1))], 1) @ affines[0].T
    np.testing.assert_allclose(mapped, src, atol=1e-9)
    # Its inside goes to the inside too: the centroid to the centroid (an affine map keeps barycentres).
    np.testing.assert_allclose(affines[0] @ [*dst.mean(0), 1.0], src.mean(0), atol=1e-9)


def test_overwrite_map_with_dst_equal_to_src_leaves_an_identity_map_bit_exact():
    mapping = identity_map(90, 120)
    before = mapping.copy()
    inner, outer = circle((60.3, 44.7), 12.0, 20), circle((60.3, 44.7), 30.0, 20)
    pts = np.concatenate([inner, outer, inner.mean(0, keepdims=True)])
    tris = np.concatenate([band_triangles(20, 2), np.where(fan_triangles(20) == 20, 40, fan_triangles(20))])
    box = overwrite_map(mapping, pts, pts, tris)
    assert box is not None
    assert np.array_equal(mapping, before)


def test_overwrite_map_touches_only_the_meshs_box_and_only_what_its_triangles_cover():
    rng = np.random.default_rng(1)
    mapping = rng.uniform(0, 50, (80, 100, 2)).astype(np.float32)
    before = mapping.copy()
    dst = np.array([[30.2, 20.6], [70.4, 25.1], [45.3, 60.8]])
    src = dst + [3.0, -2.0]
    tri = np.array([[0, 1, 2]], np.int32)
    box = overwrite_map(mapping, dst, src, tri)
    assert box == Box.around(dst, mapping.shape[:2])
    outside = np.ones(mapping.shape[:2], bool)
    outside[box.slices] = False
    assert np.array_equal(mapping[outside], before[outside])
    changed = np.any(mapping != before, axis=-1)
    assert changed.any()
    # Inside the box, only pixels of the triangle (its rasterised border included) are written: with the
    # shifted source, a written pixel samples exactly 3 px right and 2 px up of itself.
    ys, xs = np.nonzero(changed)
    np.testing.assert_allclose(mapping[ys, xs], np.stack([xs + 3.0, ys - 2.0], 1), atol=1e-4)
    corner = (box.y0, box.x0)  # the box's top-left corner lies outside the triangle
    assert not changed[corner]


def test_a_collapsed_triangle_is_skipped():
    mapping = identity_map(40, 40)
    before = mapping.copy()
    line = np.array([[5.0, 5.0], [20.0, 20.0], [35.0, 35.0]])  # three points on one line: zero area
    src = np.array([[0.0, 30.0], [30.0, 0.0], [10.0, 10.0]])
    affines, usable = triangle_affines(line, src, np.array([[0, 1, 2]], np.int32))
    assert usable.tolist() == [False]
    assert np.isfinite(affines).all()
    overwrite_map(mapping, line, src, np.array([[0, 1, 2]], np.int32))
    assert np.array_equal(mapping, before)
    # Next to a real triangle, the collapsed one takes no pixel of it (no label, no NaN written).
    pts = np.concatenate([line, [[35.0, 5.0]]])
    tris = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    _, usable = triangle_affines(pts, pts, tris)
    box = Box.around(pts, mapping.shape[:2])
    labels = label_triangles(pts, tris, box, usable)
    assert set(np.unique(labels)) == {0, 2}
    assert np.isfinite(mapping).all()


def test_polygon_mask_of_a_square_is_one_inside_and_zero_outside():
    box = Box(0, 0, 40, 30)
    sq = np.array([[10.0, 5.0], [30.0, 5.0], [30.0, 25.0], [10.0, 25.0]])
    mask = polygon_mask(sq, box, 0)
    assert mask.shape == (30, 40)
    assert np.all(mask[6:25, 11:30] == 1.0)
    assert mask[:4].max() == 0 and mask[27:].max() == 0 and mask[:, :9].max() == 0 and mask[:, 32:].max() == 0
    # Feathered inwards: the edge softens, the middle stays 1, and nothing grows outside.
    soft = polygon_mask(sq, box, 4.0)
    assert np.all(soft <= mask + 1e-6)
    assert np.all(soft[11:20, 16:25] == 1.0)
    assert 0 < soft[6, 20] < 1


@pytest.mark.parametrize(("polygon", "area"), [
    ([[10.0, 5.0], [30.0, 5.0], [30.0, 25.0], [10.0, 25.0]], 400.0),  # edges through pixel centres
    ([[4.3, 9.6], [34.3, 9.6], [34.3, 9.9], [4.3, 9.9]], 9.0),  # a sliver: lids 0.3 px apart
], ids=["square", "sliver"])
def test_polygon_mask_covers_the_polygons_area(polygon, area):
    """Coverage, not an outline: a nearly closed eye or mouth shows as little of what lies behind as it is open."""
    mask = polygon_mask(np.array(polygon), Box(0, 0, 40, 30), 0)
    perimeter = float(np.linalg.norm(np.diff(np.array(polygon + polygon[:1]), axis=0), axis=1).sum())
    assert abs(mask.sum() - area) < 0.2 * perimeter, f"coverage {mask.sum():.1f} px² for an area of {area}"


@pytest.mark.parametrize("shape", ["straight", "arched", "point"])
def test_polygon_mask_of_a_collapsed_polygon_is_all_zeros(shape):
    """A mouth or an eye closed to a line: its upper contour lies on its lower one, the polygon has no area, and
    a layer pasted through its mask must show nothing (not a line of teeth or eyeball)."""
    box = Box(0, 0, 40, 24)
    x = np.linspace(5, 35, 9)
    if shape == "point":
        half = np.full((9, 2), [12.3, 11.6])
    else:
        y = np.full_like(x, 10.0) + (0.0 if shape == "straight" else 4.0 * ((x - 20) / 15) ** 2)  # a smile's arch
        half = np.stack([x, y], 1)
    polygon = np.concatenate([half, half[-2:0:-1]])  # out along the line and back on the same points
    for feather in (0.0, 1.5):
        mask = polygon_mask(polygon, box, feather)
        assert mask.max() == 0, f"feather {feather}: {np.count_nonzero(mask)} px covered, up to {mask.max():.2f}"


@pytest.mark.parametrize("contour", [square, circle])
def test_band_triangles_cover_the_annulus_without_gaps(contour):
    n = 24
    centre = (40.4, 37.8)
    if contour is square:
        inner, outer = square(centre, 10.0, n // 4), square(centre, 28.0, n // 4)
    else:
        inner, outer = circle(centre, 10.0, n), circle(centre, 28.0, n)
    pts = np.concatenate([inner, outer])
    tris = band_triangles(n, 2)
    assert tris.shape == (2 * n, 3)
    box = Box.around(pts, (80, 80))
    _, usable = triangle_affines(pts, pts, tris)
    assert usable.all()
    labels = label_triangles(pts, tris, box, usable)
    # Every pixel whose centre lies between the contours, a pixel clear of both, gets a label; the hole none.
    ys, xs = np.mgrid[box.y0 : box.y1, box.x0 : box.x1]
    dx, dy = np.abs(xs - centre[0]), np.abs(ys - centre[1])
    d = np.maximum(dx, dy) if contour is square else np.hypot(dx, dy)
    between, hole = (d > 11.0) & (d < 27.0), d < 8.5
    assert between.sum() > 1500
    assert np.all(labels[between] > 0), f"{np.count_nonzero(labels[between] == 0)} px of the band left out"
    assert np.all(labels[hole] == 0)


def test_band_triangles_of_three_rings_share_the_middle_ring():
    tris = band_triangles(5, 3)
    assert tris.shape == (20, 3)
    assert set(np.unique(tris)) == set(range(15))
    assert not tris.flags.writeable  # cached: shared, so read-only


def test_sample_map_reads_bilinearly_and_clamps_to_the_edge():
    rng = np.random.default_rng(2)
    values = rng.uniform(-5, 5, (7, 9, 2)).astype(np.float32)
    pts = np.array([[2.25, 3.5], [0.0, 0.0], [8.0, 6.0], [4.9, 0.1], [7.5, 5.75]])
    got = sample_map(values, pts)
    for p, g in zip(pts, got, strict=True):
        x0, y0 = int(np.floor(p[0])), int(np.floor(p[1]))
        x1, y1 = min(x0 + 1, 8), min(y0 + 1, 6)
        fx, fy = p[0] - x0, p[1] - y0
        want = (values[y0, x0] * (1 - fx) * (1 - fy) + values[y0, x1] * fx * (1 - fy)
                + values[y1, x0] * (1 - fx) * fy + values[y1, x1] * fx * fy)
        np.testing.assert_allclose(g, want, atol=1e-5)
    # An affine map is read exactly anywhere; outside the map, the edge's value.
    xs, ys = np.meshgrid(np.arange(9.0), np.arange(7.0))
    linear = np.stack([2 * xs - ys + 1, 0.5 * xs + 3 * ys], -1).astype(np.float32)
    q = rng.uniform(0, [8, 6], (50, 2))
    np.testing.assert_allclose(sample_map(linear, q), np.stack([2 * q[:, 0] - q[:, 1] + 1,
                                                               0.5 * q[:, 0] + 3 * q[:, 1]], 1), atol=1e-4)
    np.testing.assert_allclose(sample_map(linear, [[-3.0, 2.0], [20.0, 9.0]]), [linear[2, 0], linear[6, 8]])


def test_segment_similarity_puts_a_segment_onto_another():
    a, b = np.array([10.0, 5.0]), np.array([30.0, 15.0])
    to_a, to_b = np.array([-4.0, 2.0]), np.array([1.0, 40.0])
    s = segment_similarity(a, b, to_a, to_b)
    np.testing.assert_allclose(s.apply(np.stack([a, b])), np.stack([to_a, to_b]), atol=1e-9)


def test_segment_similarity_is_the_least_squares_fit_of_its_two_pairs():
    from reenact.engine.motion import fit_similarity

    rng = np.random.default_rng(3)
    for _ in range(50):
        a, b, to_a, to_b = rng.normal(0, 50, (4, 2))
        exact, fitted = segment_similarity(a, b, to_a, to_b), fit_similarity(np.array([a, b]), np.array([to_a, to_b]))
        np.testing.assert_allclose(exact.linear, fitted.linear, atol=1e-9)
        np.testing.assert_allclose(exact.translation, fitted.translation, atol=1e-7)
        np.testing.assert_allclose(exact.rotation @ exact.rotation.T, np.eye(2), atol=1e-12)


def test_moved_against_is_zero_for_a_feature_that_only_travelled_with_the_head():
    rng = np.random.default_rng(3)
    own = rng.uniform(0, 50, (12, 2))
    corners = own[[0, 6]]
    head = segment_similarity(corners[0], corners[1], corners[0] + [7.0, -3.0],
                              corners[0] + [7.0, -3.0] + 1.3 * (corners[1] - corners[0]) @ [[0.96, 0.28], [-0.28, 0.96]])
    now = head.apply(own)
    assert moved_against(now, own, now[[0, 6]], corners) < 1e-9
    now[3] += 2.0 * head.scale * head.rotation @ [0.0, 1.0]  # one point moved 2 px (in its own size) against them
    assert moved_against(now, own, now[[0, 6]], corners) == pytest.approx(2.0, abs=1e-6)
