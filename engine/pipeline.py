"""The engine's two entry points: `prepare` once per avatar, `step` once per driving frame.

step: landmarks → motion → warp grid → model (or the analytic warp alone) → paste-back. Each stage hands one typed
value to the next; per-stage timings are recorded on every step. `step` is `track` then `render`, and `render` is
`warp` → `refine` → `compose`: separate calls so that a pipelined runner can track frame t+1 while the network
refines frame t and frame t-1 is pasted, each on its own thread (app.runner).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reenact.engine.backends.base import Backend
from reenact.engine.config import MotionConfig, OneEuroConfig, PipelineConfig
from reenact.engine.driver import Driving, look
from reenact.engine.errors import ReenactError
from reenact.engine.face import FaceCrop, FaceTracker, Landmarks, crop_box, crop_face, cut, transform_points
from reenact.engine.motion import MotionTransfer
from reenact.engine.render import FullResRenderer
from reenact.engine.runtime import configure_threads
from reenact.engine.warp import HAIR_CELLS, HeadField, HeadWarp, to_normalized

STAGES = ("landmarks", "motion", "warp", "model", "paste")  # what the Pipeline times, in order
# A frame's whole path where the app runs it: read from the source, the engine's stages, handed to the sinks. The
# one list the worker, the bench, the demo and the status bar name their timings by.
FRAME_STAGES = ("capture", *STAGES, "output")
MIN_FACE_PX = 64  # below this the crop is an upscale of a few pixels: a blurry animation
MAX_IMAGE_PX = 4096  # long side above which every output frame is slow to make and to write

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PreparedAvatar:
    """Everything about an avatar that does not change from frame to frame."""

    image: NDArray[np.uint8]  # full RGB image
    crop: FaceCrop
    warp: HeadWarp  # the analytic motion of this face
    renderer: FullResRenderer  # samples the full-resolution avatar once per frame
    features: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    source_tensor: NDArray[np.float32] | None = None  # 1×3×S×S in [0, 1]: what the encoder encoded
    kp_source: NDArray[np.float32] | None = None  # 1×K×2 normalised


@dataclass(frozen=True, slots=True)
class DrivingFace:
    """A driving frame and its face's landmarks (that frame's pixels)."""

    image: NDArray[np.uint8]
    landmarks: Landmarks


@dataclass(frozen=True, slots=True)
class Tracked:
    """A driving frame's first half of `step`: where the avatar's landmarks go, and the face lending its mouth."""

    target: NDArray  # avatar crop pixels
    driving: DrivingFace | None  # the last face seen (a lost face holds its last mouth, too)
    landmarks: Landmarks | None  # this frame's driving landmarks; None when it shows no face
    timings_ms: dict[str, float]


@dataclass(slots=True)
class Warped:
    """The analytic motion of one frame, and the crop grid the network (or the crop view) samples with."""

    target: NDArray
    driving: DrivingFace | None
    motion: HeadField
    grid: NDArray[np.float32] | None
    timings_ms: dict[str, float]


@dataclass(slots=True)
class StepResult:
    image: NDArray[np.uint8]  # the animated avatar: full image, or the crop when paste-back is off
    face_found: bool
    driving_landmarks: Landmarks | None
    timings_ms: dict[str, float]
    clamped: bool = False  # the head moved further than the warp follows: its motion was limited


class Pipeline:
    """Animates one avatar at a time from a stream of driving frames.

    `backend=None` runs the network-free TPS warp; otherwise the backend's model refines it.
    """

    def __init__(self, config: PipelineConfig | None = None, backend: Backend | None = None) -> None:
        configure_threads()
        self.config = config or PipelineConfig()
        self.backend = backend
        self._subset = None if backend is None else np.array(backend.meta.landmark_subset)  # the model's keypoints
        self._avatar_tracker: FaceTracker | None = None
        self._tracker: FaceTracker | None = None
        self.avatar: PreparedAvatar | None = None
        self.motion: MotionTransfer | None = None
        self._last_target: NDArray[np.float32] | None = None
        self._last_driving: Landmarks | None = None
        self._last_face: DrivingFace | None = None
        self._reference: Landmarks | None = None  # the driving pose the avatar's own pose stands for
        self._reference_face: Driving | None = None  # and the frame it was seen in, when known
        self.frames = 0
        self.frames_without_face = 0
        self.frames_clamped = 0

    @property
    def size(self) -> int:
        return self.config.face.crop.size if self.backend is None else self.backend.meta.input_size

    # Once per avatar ------------------------------------------------------------------------------------------
    def prepare(self, image: NDArray[np.uint8], name: str | Path = "avatar", landmarks: Landmarks | None = None
                ) -> PreparedAvatar:
        """Find the face (unless its `landmarks` are known), crop it, encode it once; raises ReenactError naming
        `name` when there is no face."""
        if landmarks is None:
            if self._avatar_tracker is None:
                self._avatar_tracker = FaceTracker(self.config.face, static=True)
            landmarks = self._avatar_tracker.detect(image)
        if landmarks is None:
            raise ReenactError("no face found in the avatar image", name)
        _warn_if_poor(image, landmarks, name)
        size = self.size
        box = crop_box(landmarks, self.config.face.crop)
        crop = crop_face(image, landmarks, box, size)
        paste = self.config.paste
        renderer = FullResRenderer.build(image, box, self.config.warp.region_scale, paste.feather,
                                         paste.detail_sigma, _index_coords(landmarks), paste.shading,
                                         paste.background)
        warp = HeadWarp(crop.landmarks, size, self.config.warp, renderer.person_support(HAIR_CELLS))
        avatar = PreparedAvatar(image, crop, warp, renderer)
        if self.backend is not None:
            avatar.source_tensor = (crop.image.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
            features = self.backend.run("encoder", {"source": avatar.source_tensor})
            # the feature maps the frame graph reads (a model without the generator reads only the coarse ones)
            avatar.features = {k: v for k, v in features.items() if k in self.backend.meta.frame_inputs}
            avatar.kp_source = to_normalized(crop.landmarks[self._subset], size)[None]
        self.avatar = avatar
        self.motion = MotionTransfer(crop.landmarks, self.config.motion)
        if self._reference is not None:
            self.motion.calibrate(self._reference)
        self._last_target = None
        return avatar

    # Settings that take effect on the next frame --------------------------------------------------------------
    def calibrate(self) -> bool:
        """Take the latest driving face as the neutral pose. False when no face has been seen yet."""
        if self._last_driving is None:
            return False
        face = self._last_face
        self.set_reference(self._last_driving, None if face is None else look(face.image, face.landmarks))
        return True

    def set_reference(self, driving: Landmarks, face: Driving | None = None) -> None:
        """Use these driving landmarks as the neutral pose (kept when the avatar changes). `face`: the driver's
        face in the frame they were found in (engine.driver.look); with it his change of shading is carried onto
        the avatar too (engine.shading)."""
        self._reference = np.asarray(driving, dtype=np.float32).copy()
        self._reference_face = face
        if self.motion is not None:
            self.motion.calibrate(self._reference)

    @property
    def reference(self) -> Landmarks | None:
        return None if self._reference is None else self._reference.copy()

    def set_motion(self, config: MotionConfig) -> None:
        self.config = replace(self.config, motion=config)
        if self.motion is not None:
            self.motion.config = config

    def set_smoothing(self, config: OneEuroConfig) -> None:
        self.config = replace(self.config, face=replace(self.config.face, smoothing=config))
        if self._tracker is not None:
            self._tracker.set_smoothing(config)

    def set_paste(self, enabled: bool) -> None:
        self.config = replace(self.config, paste=replace(self.config.paste, enabled=enabled))

    def reset_stream(self) -> None:
        """A new driving stream begins: forget tracking state and the reference pose."""
        if self._tracker is not None:
            self._tracker.reset()
        self._last_driving = None
        self._last_face = None
        self._last_target = None
        self._reference = None
        self._reference_face = None
        if self.motion is not None:
            self.motion.reset()

    # Once per frame -------------------------------------------------------------------------------------------
    def step(self, frame: NDArray[np.uint8], timestamp_s: float | None = None) -> StepResult:
        tracked = self.track(frame, timestamp_s)
        rendered = self.render(tracked.target, tracked.driving, tracked.timings_ms)
        return replace(rendered, face_found=tracked.landmarks is not None, driving_landmarks=tracked.landmarks)

    def track(self, frame: NDArray[np.uint8], timestamp_s: float | None = None) -> Tracked:
        """Landmarks and motion transfer of one driving frame (the tracking state moves on: call in frame order)."""
        if self.avatar is None or self.motion is None:
            raise RuntimeError("prepare() an avatar before step()")
        if self._tracker is None:
            self._tracker = FaceTracker(self.config.face, static=False)
        timings: dict[str, float] = {}
        self.frames += 1
        with _timed(timings, "landmarks"):
            driving = self._tracker.detect(frame, timestamp_s if timestamp_s is not None else self.frames / 30.0)
        with _timed(timings, "motion"):
            if driving is not None:
                self._last_driving = driving
                if self._reference is None:
                    self.set_reference(driving, look(frame, driving))
                self._last_target = self.motion(driving)
            else:
                self.frames_without_face += 1
            target = self.target
        if driving is not None:
            self._last_face = DrivingFace(frame, driving)
        return Tracked(target, self._last_face, driving, timings)

    def render(self, target: NDArray, driving: DrivingFace | None = None, timings: dict[str, float] | None = None
               ) -> StepResult:
        """The avatar with its landmarks moved to `target` (avatar crop pixels); `driving` (the frame those
        landmarks were transferred from) lends its mouth interior. The second half of `step`, and what a
        reconstruction evaluation drives directly with known landmarks."""
        warped = self.warp(target, driving, timings)
        return self.compose(warped, self.refine(warped))

    def warp(self, target: NDArray, driving: DrivingFace | None = None, timings: dict[str, float] | None = None
             ) -> Warped:
        """The analytic motion field for `target`, and the crop grid when the network needs it."""
        avatar = self.avatar
        if avatar is None:
            raise RuntimeError("prepare() an avatar before render()")
        timings = {} if timings is None else timings
        with _timed(timings, "warp"):
            motion = avatar.warp(target)
            self.frames_clamped += motion.clamped
            grid = avatar.warp.crop_grid(motion) if self.backend is not None else None
        return Warped(target, driving, motion, grid, timings)

    def refine(self, warped: Warped) -> dict[str, NDArray[np.float32]] | None:
        """The network's layers for a warped frame, as its frame graph names them (flow, and mask and generated with
        a generator branch); None without a network."""
        with _timed(warped.timings_ms, "model"):
            if warped.grid is None or self.backend is None:
                return None
            return self._run_model(warped.grid, warped.target)

    def compose(self, warped: Warped, layers: dict[str, NDArray[np.float32]] | None) -> StepResult:
        """The output image: the avatar's own pixels moved by the field, whole (paste-back on) or seen through its
        crop (the crop view)."""
        avatar = self.avatar
        if avatar is None:
            raise RuntimeError("prepare() an avatar before render()")
        target, driving, motion, timings = warped.target, warped.driving, warped.motion, warped.timings_ms
        full = self.config.paste.enabled
        with _timed(timings, "paste"):
            points = _index_coords(transform_points(target, avatar.crop.to_frame))
            lent = None if driving is None else Driving(driving.image, _index_coords(driving.landmarks),
                                                        self._reference_face)
            image = self._render_full(avatar, motion, layers, points, lent)
            if not full:  # the crop view: the same rendering (layers and all) seen through the avatar's crop
                image = cut(image, avatar.crop.to_crop, self.size)
        return StepResult(image, driving is not None, None if driving is None else driving.landmarks, timings,
                          motion.clamped)

    @property
    def target(self) -> NDArray:
        """Where the avatar's landmarks go now: the last driving pose transferred, or the avatar's own pose."""
        assert self.avatar is not None
        return self._last_target if self._last_target is not None else self.avatar.crop.landmarks[:, :2]

    def frame_feeds(self, grid: NDArray[np.float32], target: NDArray) -> dict[str, NDArray[np.float32]]:
        """The frame graph's inputs for a TPS grid and the landmarks it moves the avatar's to."""
        avatar = self.avatar
        assert avatar is not None and self._subset is not None
        return {
            **avatar.features,
            "grid": grid[None],
            "kp_source": avatar.kp_source,
            "kp_driving": to_normalized(np.asarray(target)[self._subset], self.size)[None],
        }

    def _run_model(self, grid: NDArray[np.float32], target: NDArray) -> dict[str, NDArray[np.float32]]:
        return self.backend.run("frame", self.frame_feeds(grid, target))  # type: ignore[union-attr]

    @staticmethod
    def _render_full(avatar: PreparedAvatar, motion: HeadField, layers: dict[str, NDArray[np.float32]] | None,
                     points: NDArray[np.float64], driving: Driving | None) -> NDArray[np.uint8]:
        """The avatar at its own resolution: the analytic field (and the network's residual flow) sample its pixels
        once, the mouth and eyes with meshes of their own; the network's generated content shows where its mask
        says; the driver's mouth interior and the eyeballs show behind lips and lids."""
        r = avatar.renderer
        if layers is None:
            return r.compose(r.sample(motion.displacement, points=points), points=points, driving=driving)
        warped = r.sample(motion.displacement, layers["flow"][0], points)
        if "mask" not in layers:  # a model without the generator branch: the warped avatar everywhere
            return r.compose(warped, points=points, driving=driving)
        return r.compose(warped, layers["generated"][0].transpose(1, 2, 0), layers["mask"][0, 0], points, driving)

    def close(self) -> None:
        for tracker in (self._tracker, self._avatar_tracker):
            if tracker is not None:
                tracker.close()
        self._tracker = self._avatar_tracker = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _warn_if_poor(image: NDArray[np.uint8], landmarks: Landmarks, name: str | Path) -> None:
    """One line for an avatar that animates, but badly: the user can pick a better photo before waiting."""
    h, w = image.shape[:2]
    if max(h, w) > MAX_IMAGE_PX:
        log.warning("%s: %d×%d px, over %d on the long side: every frame is made and written that large (slow); "
                    "a smaller copy animates faster", name, w, h, MAX_IMAGE_PX)
    face = float(np.ptp(landmarks[:, :2], axis=0).max())
    if face < MIN_FACE_PX:
        log.warning("%s: the face is only %d px tall, under %d: the animation will be blurry; a larger or closer "
                    "photo works better", name, round(face), MIN_FACE_PX)


def _index_coords(points: NDArray) -> NDArray[np.float64]:
    """Continuous pixel coordinates (pixel i spans [i, i+1)) → pixel index coordinates (centres at integers)."""
    return np.asarray(points, np.float64)[:, :2] - 0.5


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    timings[stage] = (time.perf_counter() - t0) * 1000.0
