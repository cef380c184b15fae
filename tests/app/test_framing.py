"""Fitting the animated avatar into the virtual camera's frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reenact.app.framing import fit_to_frame


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_portrait_is_fitted_whole_and_centred(mona_lisa: np.ndarray, size: tuple[int, int]) -> None:
    w, h = size
    out = fit_to_frame(mona_lisa, w, h)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    ih, iw = mona_lisa.shape[:2]
    scale = min(w / iw, h / ih)
    fw, fh = round(iw * scale), round(ih * scale)
    x, y = (w - fw) // 2, (h - fh) // 2
    expected = cv2.resize(mona_lisa, (fw, fh), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(out[y:y + fh, x:x + fw].astype(int) - expected.astype(int))
    assert diff.mean() < 2.0  # the whole picture, not a crop (resampling may differ slightly)
    assert fh == h  # a portrait fills the height; the sides are a darkened blur, not the picture
    assert out[:, :x].mean() < expected.mean()


def test_same_size_passes_through(astronaut: np.ndarray) -> None:
    h, w = astronaut.shape[:2]
    assert np.array_equal(fit_to_frame(astronaut, w, h), astronaut)


def test_fill_around_fills_the_size_and_keeps_the_face_in_view(mona_lisa) -> None:
    from reenact.app.framing import fill_around

    h, w = mona_lisa.shape[:2]
    face = (w * 0.45, h * 0.25)  # the Mona Lisa's face sits high in the portrait
    out = fill_around(mona_lisa, (1280, 720), face)
    assert out.shape == (720, 1280, 3)
    scale = 1280 / w  # a portrait fills a wide frame by its width: the top and bottom are cut
    top = round(face[1] * scale - 360)
    assert top > 0  # cut around the face, not in the middle of the portrait
    expected = cv2.resize(mona_lisa, (1280, round(h * scale)), interpolation=cv2.INTER_CUBIC)[top : top + 720]
    assert np.abs(out.astype(int) - expected).mean() < 1.0


# Head and shoulders ------------------------------------------------------------------------------------------------
from reenact.app.framing import (  # noqa: E402
    FACE_SHARE,
    OUTPUT_SIZES,
    FaceBox,
    Framing,
    SteadyHead,
    frame_head,
)


def assert_no_bars(frame: np.ndarray) -> None:
    """Bars are rows or columns of one colour (letterbox, pillarbox): every row and column must vary."""
    grey = frame.astype(np.float32).mean(axis=2)
    assert grey.std(axis=0).min() > 2.0, "a column of one colour (a bar at the side)"
    assert grey.std(axis=1).min() > 2.0, "a row of one colour (a bar at the top or bottom)"


@pytest.mark.parametrize("name", ["mona_lisa", "astronaut"])
@pytest.mark.parametrize("size", OUTPUT_SIZES)
def test_head_framing_makes_the_face_40_percent_of_the_height_with_no_bars(request, static_tracker, name: str,
                                                                           size: tuple[int, int]) -> None:
    avatar = request.getfixturevalue(name)
    face = FaceBox.around(static_tracker.detect(avatar))
    out = frame_head(avatar, face, size, Framing())
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    found = FaceBox.around(static_tracker.detect(out))  # MediaPipe on the framed picture
    assert 0.35 <= found.height / size[1] <= 0.45
    assert abs(found.cx / size[0] - 0.5) < 0.03, "the face is centred"
    assert 0.3 < found.cy / size[1] < 0.5, "as a webcam shows a person: room above the head, shoulders below"
    assert_no_bars(out)


def test_head_framing_shows_the_avatars_own_pixels_and_extends_only_past_its_edge(mona_lisa, static_tracker) -> None:
    w, h = 1280, 720
    face = FaceBox.around(static_tracker.detect(mona_lisa))
    out = frame_head(mona_lisa, face, (w, h), Framing())
    s = FACE_SHARE * h / face.height
    left = round(w / 2 - s * face.cx)  # where the portrait's left edge lands (the Mona Lisa is narrower than 16:9)
    right = round(w / 2 + s * (mona_lisa.shape[1] - face.cx))
    assert 0 < left and right < w, "the portrait ends inside the frame: its border is extended"
    # inside the portrait: the avatar itself, scaled
    ys = slice(100, 600)
    inside = out[ys, left + 4:right - 4].astype(int)
    src_x0 = face.cx - (w / 2 - (left + 4)) / s
    top = face.cy - (0.42 * h - 100) / s
    expected = cv2.resize(mona_lisa[int(top):int(top + 500 / s) + 1, int(src_x0):int(src_x0 + inside.shape[1] / s) + 1],
                          None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)[:inside.shape[0], :inside.shape[1]]
    assert np.abs(inside[:expected.shape[0], :expected.shape[1]] - expected).mean() < 12
    # past the edge: continuous with it (the first columns outside look like the last inside), then a soft blur of
    # the edge itself, never the picture mirrored
    step_at_edge = np.abs(out[ys, left - 2].astype(int) - out[ys, left + 1].astype(int)).mean()
    assert step_at_edge < 12, "the border continues the portrait, no seam"
    far = out[ys, :max(1, left // 3)].astype(np.float32)
    near = out[ys, left:left + max(1, left // 3)].astype(np.float32)
    detail = lambda a: np.abs(np.diff(a, axis=0)).mean()  # noqa: E731
    assert detail(far) < 0.5 * detail(near), "far from the portrait the extension is a blur, not mirrored detail"
    assert far.mean() > 0.8 * near.mean(), "not darkened: the same picture, not a backdrop"


def test_a_portrait_cut_at_the_chin_goes_on_below_it_without_a_mirrored_chin(mona_lisa, static_tracker) -> None:
    """Head framing of the Mona Lisa cut just below her chin: the frame below the picture continues its bottom
    edge (her neck, blurring); mirrored, it showed her chin and mouth upside down under her own."""
    points = static_tracker.detect(mona_lisa)
    chin = int(points[152, 1])
    face = FaceBox.around(points)
    cut = np.ascontiguousarray(mona_lisa[: chin + int(0.05 * face.height)])
    w, h = 1280, 720
    out = frame_head(cut, face, (w, h), Framing())
    s = FACE_SHARE * h / face.height
    bottom = round((0.42 * h) - s * face.cy + s * cut.shape[0])  # where the picture ends in the frame
    band = round(0.4 * face.height * s)
    assert bottom + band <= h, "the picture ends inside the frame"
    cols = slice(round(w / 2 - 0.3 * face.height * s), round(w / 2 + 0.3 * face.height * s))
    below = out[bottom + 2 : bottom + band, cols].astype(np.float32)
    above = out[bottom - band : bottom - 2, cols].astype(np.float32)

    def detail(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())

    assert detail(below) < 0.25 * detail(above), (detail(below), detail(above))


@pytest.mark.parametrize("shown", [(169, 1142, 0, 720), (0, 1280, 100, 650), (200, 1000, 50, 700)],
                         ids=["sides", "top-and-bottom", "all-four"])
def test_the_border_made_where_it_shows_is_the_whole_continuation_enlarged(mona_lisa, shown) -> None:
    """Outside the picture the frame is the picture's continuation made small and enlarged only in the strips that
    show it: the same, to within rounding, as enlarging all of it, and the picture itself untouched."""
    from reenact.app.framing import FILL_SPREAD, FILL_STEP, _continue_outside
    from reenact.engine.extend import Margins, continued

    w, h = 1280, 720
    x0, x1, y0, y1 = shown
    inner = cv2.resize(mona_lisa, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w, 3), np.uint8)
    out[y0:y1, x0:x1] = inner
    _continue_outside(out, inner, shown)
    gw, gh = w // FILL_STEP, h // FILL_STEP
    gx0, gx1, gy0, gy1 = (round(v / FILL_STEP) for v in shown)
    half = cv2.resize(inner, ((x1 - x0) // 2, (y1 - y0) // 2), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(half, (gx1 - gx0, gy1 - gy0), interpolation=cv2.INTER_AREA)
    whole = cv2.resize(continued(small, Margins(gx0, gy0, gw - gx1, gh - gy1), FILL_SPREAD), (w, h),
                       interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.array_equal(out[y0:y1, x0:x1], inner), "the picture itself is left as it is"
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    error = np.abs(out.astype(int) - whole)[outside]
    assert error.mean() < 1.0 and error.max() < 12


def test_zoom_and_height_controls_move_the_face(astronaut, static_tracker) -> None:
    face = FaceBox.around(static_tracker.detect(astronaut))
    size = (1280, 720)
    base = FaceBox.around(static_tracker.detect(frame_head(astronaut, face, size, Framing())))
    zoomed = FaceBox.around(static_tracker.detect(frame_head(astronaut, face, size, Framing(zoom=1.4))))
    lower = FaceBox.around(static_tracker.detect(frame_head(astronaut, face, size, Framing(offset=0.1))))
    assert zoomed.height / base.height == pytest.approx(1.4, rel=0.05)
    assert (lower.cy - base.cy) / 720 == pytest.approx(0.1, abs=0.01) and lower.height == pytest.approx(base.height, rel=0.03)
    with pytest.raises(ValueError, match="framing must be one of"):
        Framing("letterbox")
    with pytest.raises(ValueError, match="zoom"):
        Framing(zoom=5.0)


def test_the_framing_ignores_jitter_and_nods_and_follows_a_head_that_went_far() -> None:
    home = FaceBox(200.0, 150.0, 120.0)
    steady = SteadyHead(home)
    rng = np.random.default_rng(0)
    boxes = [steady.follow((200 + rng.normal(0, 3), 150 + rng.normal(0, 3)), i / 30) for i in range(90)]
    assert all(b == home for b in boxes), "jitter of a few pixels never moves the frame"
    # a nod inside the dead zone (a quarter of a face height and back): the frame stays where it is
    nod = [steady.follow((200.0, 150 + 30 * np.sin(np.pi * i / 30)), 3 + i / 30) for i in range(1, 31)]
    assert all(b == home for b in nod), "a head moving within the dead zone leaves the frame alone"
    # the head settles 80 px to the right (the warp moved it far): the frame follows, slowly and without overshoot
    path = [steady.follow((280.0, 150.0), 4 + i / 30) for i in range(1, 301)]
    xs = [b.cx for b in path]
    steps = np.diff([200.0, *xs])
    assert steps.max() < 1.5 and steps.min() >= 0, "a slow, one-way ease"
    goal = 280 - steady.dead_zone * 120
    assert xs[14] - 200 < 0.5 * (goal - 200), "not within half a second"
    assert xs[-1] == pytest.approx(goal, abs=1e-6) and xs[-1] == xs[-2], "then it stops, exactly at the zone's edge"
    assert all(b.height == home.height and b.cy == home.cy for b in path), "no breathing zoom, no vertical drift"
    # the head comes most of the way back, inside the zone of where the frame now is: the frame stays (no glide
    # back after every move)
    back = [steady.follow((215.0, 150.0), 15 + i / 30) for i in range(30)]
    assert all(b == path[-1] for b in back)
