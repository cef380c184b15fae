"""Sharpness of the animated face against the avatar's own: what the resampling chain costs in detail.

The figure is the Laplacian variance inside the avatar's face box (OpenCV's Haar detector, found once on the
avatar) in each output frame, divided by the same figure for the avatar itself. Both go through the same H.264
encode the demo writes, so codec loss cancels and only what the renderer blurs is left. Two drivers per avatar:
a still one (the clip's frame whose expression is closest to the avatar's, repeated: nothing should change, as the
mouth and eyes open as far as the driver's) and a moving one (the clip itself).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.assets import load_image
from reenact.engine.errors import ReenactError
from reenact.engine.neutral_pose import neutral_frame
from reenact.engine.pipeline import Pipeline

Box = tuple[int, int, int, int]  # x, y, w, h
CRF = 18  # the demo's own encode (app.sinks.VideoFileSink)


def haar_face_box(image: NDArray[np.uint8]) -> Box | None:
    """The largest frontal face OpenCV's Haar cascade finds: a judge independent of the MediaPipe landmarks."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(32, 32))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


def _landmark_box(image: NDArray[np.uint8]) -> Box | None:
    """The landmarks' bounding box, for faces the Haar cascade misses (paintings such as The Scream)."""
    from reenact.engine.face import FaceTracker

    with FaceTracker(static=True) as tracker:
        lms = tracker.detect(image)
    if lms is None:
        return None
    (x0, y0), (x1, y1) = np.floor(lms[:, :2].min(0)).astype(int), np.ceil(lms[:, :2].max(0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def laplacian_variance(image: NDArray[np.uint8], box: Box) -> float:
    x, y, w, h = box
    gray = cv2.cvtColor(image[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def h264_roundtrip(frames: list[NDArray[np.uint8]], fps: float = 24.0) -> list[NDArray[np.uint8]]:
    """The frames as a viewer of the demo's mp4 sees them (libx264, yuv420p, CRF 18), cut to even sides."""
    import imageio_ffmpeg

    h, w = (s - s % 2 for s in frames[0].shape[:2])
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "roundtrip.mp4")
        writer = imageio_ffmpeg.write_frames(path, (w, h), fps=fps, codec="libx264", macro_block_size=1,
                                             ffmpeg_log_level="error", output_params=["-crf", str(CRF)])
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame[:h, :w, :3]))
        writer.close()
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        rw, rh = meta["size"]
        return [np.frombuffer(buf, np.uint8).reshape(rh, rw, 3).copy() for buf in reader]


@dataclass(frozen=True, slots=True)
class Sharpness:
    avatar: str
    face_px: int  # the Haar face box's side in the avatar
    still: float  # output ÷ avatar, still driver
    moving: float  # output ÷ avatar, moving driver


def _ratio(outputs: list[NDArray[np.uint8]], reference: float, box: Box) -> float:
    return float(np.mean([laplacian_variance(img, box) for img in h264_roundtrip(outputs)]) / reference)


def measure_avatar(path: Path, driving: list[NDArray[np.uint8]], make_pipeline: Callable[[], Pipeline],
                   still_frames: int = 24) -> Sharpness:
    """Sharpness ratios of one avatar driven by `driving` (moving) and by its frame closest to the avatar's
    expression, repeated (still)."""
    image = load_image(path)
    box = haar_face_box(image) or _landmark_box(image)
    if box is None:
        raise ReenactError("no face found in this avatar (sharpness needs one)", path)
    reference_sharpness = laplacian_variance(h264_roundtrip([image] * 4)[-1], box)
    ratios = []
    best: tuple[int, NDArray] | None = None  # the driving frame closest to the avatar's expression, found once
    for still in (True, False):
        with make_pipeline() as pipe:
            avatar = pipe.prepare(image, path)
            if still:  # as a user holding still does: let the tracker settle, calibrate, then measure
                best = neutral_frame(driving, avatar.crop.landmarks)
                frame = driving[0 if best is None else best.index]  # the avatar's expression: nothing need move
                for i in range(still_frames):
                    pipe.step(frame, i / 24.0)
                pipe.calibrate()
                outputs = [pipe.step(frame, (still_frames + i) / 24.0).image for i in range(still_frames)]
            else:  # as `reenact demo` does: the driving frame closest to the avatar's expression is the neutral one
                if best is not None:
                    pipe.set_reference(best.landmarks, best.look)
                outputs = [pipe.step(f, i / 24.0).image for i, f in enumerate(driving)]
        ratios.append(_ratio(outputs, reference_sharpness, box))
    return Sharpness(path.name, max(box[2], box[3]), ratios[0], ratios[1])


def measure(avatars: Iterable[Path], driving: list[NDArray[np.uint8]],
            make_pipeline: Callable[[], Pipeline]) -> list[Sharpness]:
    return [measure_avatar(p, driving, make_pipeline) for p in avatars]


def format_sharpness(rows: dict[str, list[Sharpness]]) -> str:
    """One table: mode → avatars, with the still and moving ratios (1.0 = as sharp as the avatar)."""
    head = f"{'avatar':<24} {'face px':>7} {'mode':<6} {'still':>6} {'moving':>7}"
    lines = ["sharpness (Laplacian variance of the face box, output ÷ avatar, after H.264)", head, "-" * len(head)]
    for mode, results in rows.items():
        for r in results:
            lines.append(f"{r.avatar[:24]:<24} {r.face_px:>7} {mode:<6} {r.still:>6.2f} {r.moving:>7.2f}")
    return "\n".join(lines)


def run_sharpness(avatars_dir: Path, videos: Path, weights: Path, start: int, stop: int,
                  json_path: Path | None = None) -> str:
    """`reenact eval --sharpness`: every avatar in a folder, with the warp and (when weights exist) the model."""
    from reenact.engine.backends import load_backend
    from reenact.training.cache import find_avatars, find_videos, read_frames

    avatars = find_avatars(avatars_dir)
    video = find_videos(videos)[0]
    driving = [f for i, f in zip(range(stop), read_frames(video), strict=False) if i >= start]
    if len(driving) < 2:
        raise ReenactError(f"frame range {start}:{stop} holds fewer than two frames", video)
    rows = {"warp": measure(avatars, driving, Pipeline)}
    if weights.exists():
        backend = load_backend("torch", weights)
        try:
            rows["model"] = measure(avatars, driving, lambda: Pipeline(None, backend))
        finally:
            backend.close()
    if json_path is not None:
        import json

        from reenact.engine.atomic import atomic_path

        data = {"driving": f"{video.name} frames {start}:{start + len(driving)}",
                "sharpness": {m: {r.avatar: {"face_px": r.face_px, "still": r.still, "moving": r.moving}
                                  for r in results} for m, results in rows.items()}}
        with atomic_path(json_path) as tmp:
            tmp.write_text(json.dumps(data, indent=2))
    return format_sharpness(rows)
