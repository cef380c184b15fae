"""Rendering into a large photo: only the warped region changes, and a frame costs no full-image float arrays."""

from __future__ import annotations

import logging
import tracemalloc

import cv2
import numpy as np
import pytest

from reenact.engine.face import transform_points
from reenact.engine.mesh import Box
from reenact.engine.pipeline import Pipeline
from reenact.engine.render import FullResRenderer

W, H = 6000, 4000


@pytest.fixture(scope="module")
def big_photo(mona_lisa: np.ndarray) -> np.ndarray:
    """The Mona Lisa at 4000 px tall on a 6000×4000 grey canvas: a 24-megapixel photo with a large face."""
    portrait = cv2.resize(mona_lisa, (round(mona_lisa.shape[1] * H / mona_lisa.shape[0]), H),
                          interpolation=cv2.INTER_CUBIC)
    canvas = np.full((H, W, 3), 90, np.uint8)
    x0 = (W - portrait.shape[1]) // 2
    canvas[:, x0 : x0 + portrait.shape[1]] = portrait
    return canvas


@pytest.fixture(scope="module")
def big_pipeline(big_photo: np.ndarray, clip_frames: list[np.ndarray]):
    with Pipeline() as pipe:
        pipe.prepare(big_photo, "big.jpg")
        pipe.step(clip_frames[0])  # the trackers and caches of a first frame
        yield pipe


def test_a_large_photo_gets_one_warning(big_photo: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    with Pipeline() as pipe, caplog.at_level(logging.WARNING):
        pipe.prepare(big_photo, "big.jpg")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("big.jpg: 6000×4000 px, over 4096"), lines


def test_outside_the_warped_region_the_frame_is_the_avatar_bit_for_bit(big_pipeline: Pipeline,
                                                                       clip_frames: list[np.ndarray]) -> None:
    avatar = big_pipeline.avatar
    r = avatar.renderer.region
    out = big_pipeline.step(clip_frames[40]).image
    assert out.shape == avatar.image.shape and out is not avatar.image
    box = np.zeros((H, W), bool)
    box[r.y0 : r.y1, r.x0 : r.x1] = True
    assert np.array_equal(out[~box], avatar.image[~box])
    assert not np.array_equal(out[box], avatar.image[box])  # the face itself moved
    assert (r.x1 - r.x0) * (r.y1 - r.y0) < 0.35 * W * H


def test_a_frame_of_a_large_photo_allocates_one_image_and_the_region_once(big_pipeline: Pipeline,
                                                                         clip_frames: list[np.ndarray]) -> None:
    r = big_pipeline.avatar.renderer.region
    region_px = (r.x1 - r.x0) * (r.y1 - r.y0)
    frame = clip_frames[41]
    tracemalloc.start()
    try:
        big_pipeline.step(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < W * H * 3 * 4  # no full-image float array
    # the output image (uint8, a copy of the avatar), the region's sampling map (2 floats a pixel) and its two
    # sampled layers: geometry and weights are made once per avatar
    assert peak < W * H * 3 + 24 * region_px, (peak, region_px)


def _grainy_portrait(mona_lisa: np.ndarray) -> np.ndarray:
    """A high-resolution avatar with detail at the pixel level (the painting upscaled, then a fixed film grain):
    any extra resampling of the face shows up as lost grain."""
    big = cv2.resize(mona_lisa, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(0).normal(0, 8, big.shape)
    return np.clip(big + grain, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode", ["warp", "model"])
def test_a_still_driver_leaves_a_high_resolution_face_as_sharp_as_the_avatar(mona_lisa, mode):
    from reenact.engine.assets import DEFAULT_WEIGHTS
    from reenact.engine.backends.torch_backend import TorchBackend
    from reenact.training.sharpness import haar_face_box, laplacian_variance

    avatar = _grainy_portrait(mona_lisa)
    backend = TorchBackend(DEFAULT_WEIGHTS) if mode == "model" else None
    with Pipeline(backend=backend) as pipe:
        pipe.prepare(avatar)
        # The avatar drives itself: a still driver whose mouth and eyes are as open as the avatar's (a driver with
        # another expression moves them, as it should). The tracker settles within a few frames: then calibrate.
        for i in range(12):
            pipe.step(avatar, i / 24)
        assert pipe.calibrate()
        out = [pipe.step(avatar, (12 + i) / 24).image for i in range(3)][-1]
    box = haar_face_box(avatar)
    assert box is not None and box[2] > 250  # a face of 300 px or so
    x, y, w, h = box
    diff = np.abs(out[y : y + h, x : x + w].astype(int) - avatar[y : y + h, x : x + w])
    ratio = laplacian_variance(out, box) / laplacian_variance(avatar, box)
    if mode == "warp":  # no motion at all: the avatar's own pixels
        assert diff.max() == 0
    else:  # the network's new content (eyes, mouth) is soft; everything else is the avatar's
        assert np.median(diff) == 0 and ratio > 0.9, (np.median(diff), ratio)


def test_a_tilting_head_carries_its_hair_instead_of_smearing_it(mona_lisa, clip_frames, static_tracker):
    """The driver tilts and leans in (a similarity); the output's hair and outline must be the avatar's, moved by
    the same similarity (measured on MediaPipe's landmarks of the output), not stretched towards a still border."""
    from reenact.engine.landmarks import FACE_OVAL, RIGID
    from reenact.engine.motion import fit_similarity

    first = clip_frames[0]
    h, w = first.shape[:2]
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        for i, deg in enumerate((0, 5, 10, 15, 20)):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0 + deg / 100)
            result = pipe.step(cv2.warpAffine(first, m, (w, h), borderMode=cv2.BORDER_REPLICATE), i / 24)
    src, seen = static_tracker.detect(mona_lisa), static_tracker.detect(result.image)
    sim = fit_similarity(src[list(RIGID)], seen[list(RIGID)])
    assert abs(np.degrees(sim.angle)) > 15 and sim.scale > 1.1  # the avatar did tilt and grow
    moved = cv2.warpAffine(mona_lisa, np.hstack([sim.linear, sim.translation[:, None]]), mona_lisa.shape[1::-1],
                           borderMode=cv2.BORDER_REFLECT_101)
    oval = sim.apply(src[list(FACE_OVAL), :2])
    centre = oval.mean(0)
    ring = np.zeros(mona_lisa.shape[:2], np.uint8)  # hair and outline: beyond the face oval, within 1.3 times it
    cv2.fillPoly(ring, [cv2.convexHull((centre + (oval - centre) * 1.3).astype(np.int32))], 1)
    cv2.fillPoly(ring, [cv2.convexHull(oval.astype(np.int32))], 0)
    err = np.abs(result.image.astype(int) - moved)[ring > 0].mean()
    assert err < 13, err  # a warp pinned to a still crop border smears the hair: 18 grey levels here


def test_face_width_follows_the_drivers_turn_without_a_squeeze(mona_lisa, clip_frames, static_tracker):
    """On the bundled clip's turns: at frontal driver poses the output's face keeps the avatar's proportions
    (within 10%), and its width follows the driver's."""
    from reenact.engine.landmarks import FACE_OVAL, head_yaw
    from reenact.engine.neutral_pose import neutral_frame

    def aspect(points: np.ndarray) -> float:
        width, height = np.ptp(points[list(FACE_OVAL), :2], axis=0)
        return float(width / height)

    with Pipeline() as pipe:
        avatar = pipe.prepare(mona_lisa)
        ref = neutral_frame(clip_frames, avatar.crop.landmarks)
        pipe.set_reference(ref.landmarks, ref.look)
        ref_yaw, ref_aspect = head_yaw(pipe.reference), aspect(pipe.reference)
        yaw, out, drv = [], [], []
        for i, frame in enumerate(clip_frames):
            result = pipe.step(frame, i / 24)
            if i % 3 == 0:
                yaw.append(head_yaw(result.driving_landmarks) - ref_yaw)
                out.append(aspect(static_tracker.detect(result.image)))
                drv.append(aspect(result.driving_landmarks) / ref_aspect)
    own = aspect(static_tracker.detect(mona_lisa))
    yaw, out, drv = np.array(yaw), np.array(out) / own, np.array(drv)
    frontal = np.abs(yaw) < 0.03
    assert frontal.sum() >= 5 and np.abs(out[frontal] - 1).max() < 0.10
    assert np.corrcoef(out, drv)[0, 1] > 0.3


def test_the_crop_view_shows_the_same_mouth_and_eyes_as_the_full_view(mona_lisa, clip_frames, static_tracker):
    """Paste-back off shows the face crop of the very same rendering: the driver's laughing mouth interior and the
    layers included, not a plain warp of the crop."""
    from reenact.engine.face import cut
    from reenact.engine.pipeline import DrivingFace

    frame = clip_frames[0]  # he laughs, teeth showing
    driver = DrivingFace(frame, static_tracker.detect(frame))
    with Pipeline() as pipe:
        avatar = pipe.prepare(mona_lisa)
        pipe.set_reference(driver.landmarks)
        target = pipe.motion(driver.landmarks)
        full = pipe.render(target, driver).image
        pipe.set_paste(False)
        view = pipe.render(target, driver).image
        without_mouth = pipe.render(target).image
    assert view.shape == (pipe.size, pipe.size, 3)
    np.testing.assert_array_equal(view, cut(full, avatar.crop.to_crop, pipe.size))
    assert np.count_nonzero(np.any(view != without_mouth, axis=-1)) > 50  # his mouth interior shows in the crop


def test_only_the_moving_part_of_the_region_is_sampled_and_it_is_what_the_whole_would_give(
        mona_lisa, clip_frames, monkeypatch: pytest.MonkeyPatch) -> None:
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa, "mona_lisa.jpg")
        for frame in clip_frames[:30]:  # the driver's motion and its smoothing settle
            pipe.step(frame)
        renderer = pipe.avatar.renderer
        target = pipe.track(clip_frames[30]).target
        motion = pipe.avatar.warp(target)
        points = np.asarray(transform_points(target, pipe.avatar.crop.to_frame), np.float64)[:, :2] - 0.5
        box = renderer.moving(motion.displacement, None, points)
        h, w = renderer.region.shape
        assert box is not None and box.shape[0] * box.shape[1] < 0.8 * h * w  # the head moves, not the whole region
        part = renderer.sample(motion.displacement, points=points)  # the mouth and eyes meshed inside the part
        monkeypatch.setattr(FullResRenderer, "moving", lambda *_: Box(0, 0, w, h))
        whole = renderer.sample(motion.displacement, points=points)
    assert np.array_equal(part, whole)
    assert not np.array_equal(part, mona_lisa[renderer.region.slices])


def test_a_portrait_cut_close_above_the_brows_continues_smoothly_where_the_head_moves_away(mona_lisa):
    """The Mona Lisa cut just above her brows, her head moved down by a fifth of the face crop: the rows above her
    moved forehead show what the picture never had. They must be its edge continued (her forehead's colour, no
    detail), not her brows and eyes mirrored upside down in the edge."""
    from reenact.engine.face import FaceTracker
    from reenact.engine.landmarks import FACE_OVAL

    with FaceTracker(static=True) as tracker:
        points = tracker.detect(mona_lisa)
    brow = int(points[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1].min())
    oval = points[list(FACE_OVAL), :2]
    top = max(0, brow - int(0.06 * np.ptp(oval[:, 1])))
    close = np.ascontiguousarray(mona_lisa[top:])
    with Pipeline() as pipe:
        avatar = pipe.prepare(close, "close.jpg")
        assert avatar.renderer.margins.top > 0
        shift = 0.2 * pipe.size
        target = avatar.crop.landmarks.copy()
        target[:, 1] += shift
        out = pipe.render(target).image
    down = int(shift * avatar.crop.to_frame[1, 1])  # avatar pixels
    eyes = points[[33, 133, 362, 263], 0]
    cols = slice(int(eyes.min()), int(eyes.max()))
    band = out[: down // 2, cols].astype(np.float32)  # sampled from above the picture's top edge
    edge = close[: max(4, down // 8), cols].astype(np.float32)  # the picture's own top rows

    def detail(a: np.ndarray) -> float:
        return float((a - cv2.GaussianBlur(a, (0, 0), 2.0)).std())

    inside = detail(close[:down, cols].astype(np.float32))
    assert detail(band) < 0.3 * inside, (detail(band), inside)  # mirrored, her brows and eyes: 0.63 of it
    # her forehead's colour carried up (18 levels darker: the brows' shadow in the edge row); averaging the pixels
    # nearest to each missing one drew in the brows and eyes: 112 levels darker
    assert np.abs(band.mean((0, 1)) - edge.mean((0, 1))).max() < 25, (band.mean((0, 1)), edge.mean((0, 1)))
