"""The engine end to end on real faces: avatar from assets/, driving frames from the bundled clip."""

from pathlib import Path

import numpy as np
import pytest

from reenact.engine.errors import ReenactError
from reenact.engine.landmarks import head_yaw, mouth_height
from reenact.engine.neutral_pose import neutral_frame
from reenact.engine.pipeline import STAGES, Pipeline


def test_prepare_rejects_an_image_without_a_face(no_face_image):
    from reenact.engine.assets import load_image

    with Pipeline() as pipe, pytest.raises(ReenactError, match="coffee.png: no face"):
        pipe.prepare(load_image(no_face_image), no_face_image)


def test_step_before_prepare_is_a_programming_error(clip_frames):
    with Pipeline() as pipe, pytest.raises(RuntimeError):
        pipe.step(clip_frames[0])


def test_step_returns_the_full_avatar_with_timings(mona_lisa, clip_frames, grey_model):
    with Pipeline(backend=grey_model) as pipe:
        avatar = pipe.prepare(mona_lisa)
        result = pipe.step(clip_frames[0], 0.0)
        assert result.image.shape == mona_lisa.shape  # full size
        assert result.face_found and result.driving_landmarks is not None
        assert set(result.timings_ms) == set(STAGES) and all(v >= 0 for v in result.timings_ms.values())
        # Far from the face nothing changes: the network's content is pasted only inside the crop's region.
        r = avatar.renderer.region
        np.testing.assert_array_equal(result.image[r.y1:], mona_lisa[r.y1:])
        np.testing.assert_array_equal(result.image[:, r.x1:], mona_lisa[:, r.x1:])
        _assert_no_seam(result.image, mona_lisa, avatar.renderer)
        pipe.set_paste(False)
        crop_view = pipe.step(clip_frames[1], 1 / 24)
        # The crop view is the full rendering seen through the crop, at the network's size.
        assert crop_view.image.shape == (256, 256, 3)


class _GreyModel:
    """The shipped network in PyTorch, its blend mask forced to "all generated" and its content to flat grey: what
    it pastes back then differs from the avatar everywhere in the crop, so a hard paste edge cannot hide."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.meta, self.reason = inner, inner.name, inner.meta, "test"

    def run(self, graph, feeds):
        out = self.inner.run(graph, feeds)
        if graph == "frame":
            out = {**out, "mask": np.zeros_like(out["mask"]), "generated": np.full_like(out["generated"], 0.5)}
        return out

    def close(self) -> None:
        self.inner.close()


FULL_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "weights" / "reenact_full.pt"


@pytest.fixture(scope="module")
def grey_model():
    """The trained network with its generator branch (the shipped one has none: nothing to paste)."""
    from reenact.engine.backends.torch_backend import TorchBackend

    model = _GreyModel(TorchBackend(FULL_WEIGHTS))
    yield model
    model.close()


def test_the_shipped_flow_only_network_renders_what_the_full_one_did(clip_frames):
    """The default weights are the trained network without its generator branch: on the bundled avatars driven by
    the bundled clip, the full network's blend never showed a generated pixel, so every output pixel is the same."""
    from reenact.engine.assets import AVATARS_DIR, DEFAULT_WEIGHTS, load_image
    from reenact.engine.backends.torch_backend import TorchBackend

    with TorchBackend(FULL_WEIGHTS) as full, TorchBackend(DEFAULT_WEIGHTS) as shipped:
        assert full.meta.frame_outputs == ("mask", "flow", "generated") and shipped.meta.frame_outputs == ("flow",)
        for name in ("mona_lisa.jpg", "astronaut.jpg"):
            avatar = load_image(AVATARS_DIR / name)
            with Pipeline(backend=full) as a, Pipeline(backend=shipped) as b:
                a.prepare(avatar)
                b.prepare(avatar)
                moved = 0.0
                for i, frame in enumerate(clip_frames[::4]):
                    ra, rb = a.step(frame, i / 6), b.step(frame, i / 6)
                    np.testing.assert_array_equal(ra.image, rb.image, err_msg=f"{name}, frame {4 * i}")
                    moved = max(moved, float(np.abs(rb.image.astype(int) - avatar).mean()))
                assert moved > 0.5, "the avatar really moved"


def _assert_no_seam(image: np.ndarray, avatar: np.ndarray, renderer) -> None:
    """Grey in the middle of the crop, the avatar's own pixels at the edge of the pasted window, and no step
    between neighbouring pixels across that edge much above the avatar's own texture."""
    r, (rows, cols) = renderer.region, renderer.window
    diff = np.abs(image.astype(int) - avatar).mean(axis=2)[r.y0 : r.y1, r.x0 : r.x1][rows, cols]
    h, w = diff.shape
    assert diff[h // 2 - 10 : h // 2 + 10, w // 2 - 10 : w // 2 + 10].mean() > 20, "the grey content shows"
    img_h, img_w = avatar.shape[:2]
    # the window's sides that lie inside the image (at the image's own edge there is nothing to be seamless with)
    sides = {"top": (diff[0], r.y0 + rows.start > 0), "bottom": (diff[-1], r.y0 + rows.stop < img_h),
             "left": (diff[:, 0], r.x0 + cols.start > 0), "right": (diff[:, -1], r.x0 + cols.stop < img_w)}
    inside = {name: ring for name, (ring, inner) in sides.items() if inner}
    assert inside, "the crop reaches no side of the image from inside"
    for name, ring in inside.items():
        assert ring.mean() < 3.0, f"the {name} edge of the pasted crop shows a seam ({ring.mean():.1f} grey levels)"


def test_paste_back_is_seamless_at_the_crop_edge(mona_lisa, clip_frames, grey_model):
    with Pipeline(backend=grey_model) as pipe:
        avatar = pipe.prepare(mona_lisa)
        result = pipe.step(clip_frames[10], 10 / 24)
    _assert_no_seam(result.image, mona_lisa, avatar.renderer)


def test_paste_back_at_the_image_edge(mona_lisa, clip_frames, grey_model):
    """A portrait cut close to the face: the crop hangs over the image's top and left edges."""
    with Pipeline() as pipe:
        box = pipe.prepare(mona_lisa).renderer.box
    edge = np.ascontiguousarray(mona_lisa[int(box.cy - 0.3 * box.side):, int(box.cx - 0.35 * box.side):])
    with Pipeline(backend=grey_model) as pipe:
        avatar = pipe.prepare(edge)
        r = avatar.renderer
        assert r.box.cx - r.box.side / 2 < 0 and r.box.cy - r.box.side / 2 < 0, "the crop must leave the image"
        result = pipe.step(clip_frames[10], 10 / 24)
    assert result.image.shape == edge.shape
    grey = np.abs(result.image.astype(int) - 128).mean(axis=2)
    assert grey[:8, r.region.x0 + r.window[1].start + 60 : r.region.x0 + r.window[1].start + 120].mean() < 8, \
        "the content reaches the image's top edge"
    np.testing.assert_array_equal(result.image[r.region.y1:], edge[r.region.y1:])
    _assert_no_seam(result.image, edge, r)


def test_lost_face_holds_the_last_motion(mona_lisa, clip_frames):
    blank = np.zeros_like(clip_frames[0])
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        pipe.step(clip_frames[0], 0.0)
        held = pipe.step(clip_frames[40], 1.0)
        lost = pipe.step(blank, 1.1)
        assert not lost.face_found and pipe.frames_without_face == 1
        np.testing.assert_array_equal(lost.image, held.image)


def test_calibrate_makes_the_current_face_neutral(mona_lisa, clip_frames):
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        assert not pipe.calibrate(), "nothing to calibrate on before a face is seen"
        pipe.step(clip_frames[0], 0.0)
        first_ref = pipe.reference
        current = pipe.step(clip_frames[100], 100 / 24)
        moved = np.abs(current.image.astype(int) - mona_lisa).mean()
        # frame 100 is another pose than frame 0 (by far more than tracker jitter), so the test can tell them apart
        assert np.linalg.norm(current.driving_landmarks[:, :2] - first_ref[:, :2], axis=1).mean() > 2.0
        assert pipe.calibrate()
        np.testing.assert_array_equal(pipe.reference, current.driving_landmarks)  # exactly the face seen last
        # With the current face as reference, the avatar is (nearly) its own still self again.
        still = np.abs(pipe.step(clip_frames[100], 100 / 24 + 1e-3).image.astype(int) - mona_lisa).mean()
        assert still < 1.0 and still < moved / 4, (still, moved)


@pytest.fixture(scope="module", params=["warp", "model"])
def backend(request):
    """None for the analytic warp; the shipped weights in PyTorch for the trained model."""
    if request.param == "warp":
        yield None
        return
    from reenact.engine.assets import DEFAULT_WEIGHTS
    from reenact.engine.backends.torch_backend import TorchBackend

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {DEFAULT_WEIGHTS}")
    b = TorchBackend(DEFAULT_WEIGHTS)
    yield b
    b.close()


def test_output_follows_the_driving_mouth_and_yaw(mona_lisa, clip_frames, static_tracker, backend):
    """MediaPipe on the OUTPUT frames: mouth opening and head yaw must follow the driving clip's."""
    with Pipeline(backend=backend) as pipe:
        avatar = pipe.prepare(mona_lisa)
        ref = neutral_frame(clip_frames, avatar.crop.landmarks)
        pipe.set_reference(ref.landmarks, ref.look)
        drive_mouth, out_mouth, drive_yaw, out_yaw = [], [], [], []
        for i, frame in enumerate(clip_frames):
            result = pipe.step(frame, i / 24)
            if i % 2:
                continue
            seen = static_tracker.detect(result.image)
            assert seen is not None, f"no face found in output frame {i}"
            drive_mouth.append(mouth_height(result.driving_landmarks))
            out_mouth.append(mouth_height(seen))
            drive_yaw.append(head_yaw(result.driving_landmarks))
            out_yaw.append(head_yaw(seen))
    assert np.std(drive_mouth) > 0.01 and np.std(drive_yaw) > 0.02, "the clip must actually move"
    assert np.corrcoef(drive_mouth, out_mouth)[0, 1] > 0.4
    assert np.corrcoef(drive_yaw, out_yaw)[0, 1] > 0.6


def test_switching_avatar_keeps_the_reference(mona_lisa, astronaut, clip_frames):
    with Pipeline() as pipe:
        pipe.prepare(mona_lisa)
        pipe.step(clip_frames[0], 0.0)
        ref = pipe.reference
        pipe.prepare(astronaut)
        np.testing.assert_array_equal(pipe.reference, ref)
        assert pipe.step(clip_frames[1], 1 / 24).image.shape == astronaut.shape
