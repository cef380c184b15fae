"""Cross-identity evaluation: another person's video drives each avatar, through the demo's own path.

Self-reconstruction cannot show whether an avatar's mouth and eyes follow a different face: there the source
already has the driver's mouth. Here every avatar × video runs `Pipeline.step` on every frame of the range, with the
reference pose chosen as `reenact demo` chooses it by default (`neutral_frame`), for the warp and the model.
On every scored frame an independent detector (dlib, 68 points) reads the driving frame and the output; the
figures say how the output's openness follows the driver's and how far its identity drifts from the avatar's:

- `mouth_corr`, `eye_corr`: Pearson correlation of driver and output openness over the frames,
- `mouth_range`: std(output mouth openness) / std(driver mouth openness), 1 = the driver's full range,
- `id_dist`: mean distance of dlib's 128-d descriptors between output and avatar (dlib calls < 0.6 the same person),
- `driver_id_dist`: the same distance between each scored driving frame and the driver's reference frame (the
  one the avatar's own pose stands for): how far a real face's descriptor moves from itself while it makes these
  expressions, the yardstick for `id_dist` (the output is the avatar itself at the reference frame),
- `no_face`: frames where dlib finds no face in the driver or the output (left out of the figures above).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.assets import load_image
from reenact.engine.atomic import atomic_path
from reenact.engine.backends.base import Backend
from reenact.engine.backends.loader import load_backend
from reenact.engine.errors import ReenactError
from reenact.engine.face import FaceTracker, Landmarks
from reenact.engine.neutral_pose import NeutralFrame, neutral_frame
from reenact.engine.pipeline import Pipeline
from reenact.training.cache import find_avatars, find_videos, read_range
from reenact.training.face_metrics import DlibJudge, FaceReading

METHODS = ("warp", "model")
FIGURES = ("mouth_corr", "eye_corr", "mouth_range", "id_dist", "driver_id_dist")
MIN_FRAMES = 10  # a pair with fewer frames where dlib found both faces has no figures
REFERENCE_FRAMES = 240  # frames spread over the range that the reference search looks at, as the demo's


@dataclass(frozen=True, slots=True)
class CrossOptions:
    avatars: Path
    videos: Path
    weights: Path
    start: int = 0
    stop: int | None = None
    stride: int = 1
    progress: bool = True
    backend: str = "torch"  # what runs the model rows: torch on a checkpoint; onnxruntime on an export folder


# The openness figures, on dlib's 68 points (0-based) -----------------------------------------------------------
def _dist(points: NDArray, i: int, j: int) -> float:
    return float(np.linalg.norm(points[i] - points[j]))


def mouth_openness(points: NDArray) -> float:
    """Inner-lip gap (mean of the three vertical pairs 62–66, 61–67, 63–65) over the face width 0–16: a figure that
    does not change when the face comes closer."""
    gap = np.mean([_dist(points, 62, 66), _dist(points, 61, 67), _dist(points, 63, 65)])
    return float(gap / _dist(points, 0, 16))


def _eye_aspect(eye: NDArray) -> float:
    """(|p1−p5| + |p2−p4|) / (2 |p0−p3|) of one eye's six points: the eye aspect ratio."""
    return (_dist(eye, 1, 5) + _dist(eye, 2, 4)) / (2.0 * _dist(eye, 0, 3))


def eye_openness(points: NDArray) -> float:
    """The eye aspect ratio averaged over both eyes (points 36–41 and 42–47)."""
    return float(np.mean([_eye_aspect(points[36:42]), _eye_aspect(points[42:48])]))


def pearson(a: list[float], b: list[float]) -> float:
    """Pearson correlation; NaN for fewer than two values or a series that does not vary."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def std_ratio(out: list[float], driver: list[float]) -> float:
    """std(out) / std(driver): how much of the driver's range the output shows; NaN when the driver does not move."""
    d = float(np.std(driver)) if len(driver) > 1 else 0.0
    return float(np.std(out)) / d if d > 0 else float("nan")


# Per avatar × video × method -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Series:
    """Openness of driver and output on every frame where dlib found both faces, and the output's identity."""

    driver_mouth: list[float] = field(default_factory=list)
    driver_eyes: list[float] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)
    eyes: list[float] = field(default_factory=list)
    id_dist: list[float] = field(default_factory=list)
    driver_id_dist: list[float] = field(default_factory=list)
    no_face: int = 0

    @property
    def frames(self) -> int:
        return len(self.mouth)

    def figures(self) -> dict[str, float]:
        """The pair's figures; NaN (left out of the overall) where dlib found the faces in fewer than MIN_FRAMES
        frames: a correlation of two frames is ±1 whatever the render, and would outweigh every other pair."""
        if self.frames < MIN_FRAMES:
            return {"frames": self.frames, "no_face": self.no_face, **dict.fromkeys(FIGURES, float("nan"))}
        return {"frames": self.frames, "no_face": self.no_face,
                "mouth_corr": pearson(self.driver_mouth, self.mouth), "eye_corr": pearson(self.driver_eyes, self.eyes),
                "mouth_range": std_ratio(self.mouth, self.driver_mouth),
                "id_dist": _finite_mean(self.id_dist), "driver_id_dist": _finite_mean(self.driver_id_dist)}


@dataclass(slots=True)
class CrossReport:
    frames: str  # the range every video was driven with, e.g. "4000:4800 (stride 2)"
    pairs: dict[str, dict[str, dict[str, Series]]]  # avatar → video → method → series

    def overall(self) -> dict[str, dict[str, float]]:
        """Per method: frames and no_face summed; every figure the mean of the pairs' (NaN ones left out), so each
        avatar × video counts once, whatever its number of frames."""
        out = {}
        for m in METHODS:
            rows = [videos[v][m].figures() for videos in self.pairs.values() for v in videos]
            out[m] = {"frames": sum(r["frames"] for r in rows), "no_face": sum(r["no_face"] for r in rows),
                      **{k: _finite_mean([r[k] for r in rows]) for k in FIGURES}}
        return out

    def to_dict(self) -> dict:
        return {"frames": self.frames, "overall": self.overall(),
                "avatars": {a: {v: {m: s.figures() for m, s in ms.items()} for v, ms in videos.items()}
                            for a, videos in self.pairs.items()}}


def _finite_mean(values: list[float]) -> float:
    finite = [x for x in values if math.isfinite(x)]
    return float(np.mean(finite)) if finite else float("nan")


# Running it ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Driver:
    """A video's frame range, and dlib's reading of its scored frames (None where dlib finds no face)."""

    path: Path
    start: int
    stop: int  # the range's end, at most the video's length
    fps: float
    faces: dict[int, FaceReading | None]


def _fps(path: Path) -> float:
    """The video's frame rate (25 when it has none: a frame folder), for the tracker's timestamps."""
    fps = 0.0
    if path.is_file():
        cap = cv2.VideoCapture(str(path))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        cap.release()
    return fps if 1.0 <= fps <= 240.0 else 25.0


def read_driver(path: Path, opts: CrossOptions, judge: DlibJudge) -> Driver:
    """dlib on the driving frames once per video: they are the same for every avatar and method."""
    faces, last = {}, opts.start - 1
    for i, frame in read_range(path, opts.start, opts.stop):
        last = i
        if (i - opts.start) % opts.stride == 0:
            faces[i] = judge.read(frame)[0]
    if last - opts.start < 1:
        raise ReenactError(f"frame range {opts.start}:{opts.stop or ''} holds fewer than two frames", path)
    return Driver(path, opts.start, last + 1, _fps(path), faces)


def _reference_step(driver: Driver) -> int:
    return max(1, (driver.stop - driver.start) // REFERENCE_FRAMES)


def _reference_frames(driver: Driver) -> Iterator[NDArray[np.uint8]]:
    """Up to REFERENCE_FRAMES frames spread evenly over the range, as the demo's reference search takes them."""
    step = _reference_step(driver)
    for i, frame in read_range(driver.path, driver.start, driver.stop):
        if (i - driver.start) % step == 0:
            yield frame


@dataclass(frozen=True, slots=True)
class AvatarFace:
    """dlib's reading of the avatar itself: its descriptor (identity) and its box, where the outputs' face is
    looked for."""

    descriptor: NDArray[np.float64] | None
    box: object | None


def run_pair(avatar: NDArray[np.uint8], name: Path, landmarks: Landmarks, own: AvatarFace, driver: Driver,
             backend: Backend | None, judge: DlibJudge,
             references: dict[tuple[Path, Path], NeutralFrame | None] | None = None) -> Series:
    """One avatar (its MediaPipe `landmarks` found once) driven by one video through Pipeline.step, as `reenact
    demo` runs it; dlib reads the outputs. `references` keeps the reference frame chosen for each avatar × video:
    it is the same for every method, and the search tracks a few hundred frames."""
    series = Series()
    index = None  # the reference frame's (none without one: absolute motion)
    reference_descriptor = None  # the driver's own in it, read as the run passes it
    driver_descriptors: list[NDArray[np.float64]] = []  # his, on the frames scored
    with Pipeline(None, backend) as pipe:
        prepared = pipe.prepare(avatar, name, landmarks)
        if pipe.config.motion.mode == "relative":
            references = {} if references is None else references
            key = (name, driver.path)
            if key not in references:
                references[key] = neutral_frame(_reference_frames(driver), prepared.crop.landmarks)
            reference = references[key]
            if reference is not None:
                pipe.set_reference(reference.landmarks, reference.look)
                index = driver.start + reference.index * _reference_step(driver)
        for i, frame in read_range(driver.path, driver.start, driver.stop):
            image = pipe.step(frame, (i - driver.start) / driver.fps).image
            if i == index:
                seen = driver.faces[i] if i in driver.faces else judge.read(frame)[0]
                reference_descriptor = None if seen is None else seen.descriptor
            if i in driver.faces and _read_output(image, driver.faces[i], own, judge, series):
                driver_descriptors.append(driver.faces[i].descriptor)
    series.driver_id_dist = [_distance(d, reference_descriptor) for d in driver_descriptors]
    return series


def _distance(a: NDArray[np.float64] | None, b: NDArray[np.float64] | None) -> float:
    return float(np.linalg.norm(a - b)) if a is not None and b is not None else float("nan")


def _read_output(image: NDArray[np.uint8], driver_face: FaceReading | None, own: AvatarFace, judge: DlibJudge,
                 series: Series) -> bool:
    """Score one output against its driving frame; False where dlib found either face missing."""
    if driver_face is None:
        series.no_face += 1
        return False
    face, _ = judge.read(image, near=own.box)
    if face is None:
        series.no_face += 1
        return False
    series.driver_mouth.append(mouth_openness(driver_face.points))
    series.driver_eyes.append(eye_openness(driver_face.points))
    series.mouth.append(mouth_openness(face.points))
    series.eyes.append(eye_openness(face.points))
    series.id_dist.append(_distance(face.descriptor, own.descriptor))
    return True


def _find_faces(avatars: dict[Path, NDArray[np.uint8]]) -> dict[Path, Landmarks]:
    """Every avatar's landmarks, found once for all its runs; an avatar without a face is named now, not after the
    avatars before it have run."""
    found = {}
    with FaceTracker(static=True) as tracker:
        for path, image in avatars.items():
            landmarks = tracker.detect(image)
            if landmarks is None:
                raise ReenactError("no face found in the avatar image", path)
            found[path] = landmarks
    return found


def evaluate_cross(opts: CrossOptions) -> CrossReport:
    """Every avatar × video × method; the inputs (folders, images, weights) are read before the slow work starts."""
    if opts.stride < 1:
        raise ReenactError("--stride must be at least 1")
    avatars = {p: load_image(p) for p in find_avatars(opts.avatars)}
    faces = _find_faces(avatars)
    videos = find_videos(opts.videos)
    from tqdm import tqdm

    pairs: dict[str, dict[str, dict[str, Series]]] = {}
    references: dict[tuple[Path, Path], NeutralFrame | None] = {}
    with load_backend(opts.backend, opts.weights) as backend:
        judge = DlibJudge()
        drivers = [read_driver(p, opts, judge) for p in videos]
        bar = tqdm(total=len(avatars) * len(drivers) * len(METHODS), desc="cross", unit="run",
                   disable=not opts.progress)
        for path, image in avatars.items():
            face, box = judge.read(image)
            own = AvatarFace(None if face is None else face.descriptor, box)
            pairs[path.name] = {}
            for driver in drivers:
                pairs[path.name][driver.path.stem] = {
                    m: run_pair(image, path, faces[path], own, driver, backend if m == "model" else None, judge,
                                references)
                    for m in METHODS}
                bar.update(len(METHODS))
        bar.close()
    stop = "" if opts.stop is None else opts.stop
    return CrossReport(f"{opts.start}:{stop} (stride {opts.stride})", pairs)


def _row(avatar: str, video: str, method: str, f: dict[str, float]) -> str:
    return (f"{avatar[:20]:<20} {video[:12]:<12} {method:<6} {f['frames']:>6} {f['no_face']:>7} "
            f"{f['mouth_corr']:>10.3f} {f['eye_corr']:>8.3f} {f['mouth_range']:>11.3f} {f['id_dist']:>7.3f} "
            f"{f['driver_id_dist']:>14.3f}")


def format_cross(report: CrossReport) -> str:
    """Per avatar × video × method, then overall per method."""
    head = (f"{'avatar':<20} {'video':<12} {'method':<6} {'frames':>6} {'no_face':>7} {'mouth_corr':>10} "
            f"{'eye_corr':>8} {'mouth_range':>11} {'id_dist':>7} {'driver_id_dist':>14}")
    lines = [f"cross-identity, frames {report.frames}", head, "-" * len(head)]
    for avatar, videos in report.pairs.items():
        for video, methods in videos.items():
            lines += [_row(avatar, video, m, s.figures()) for m, s in methods.items()]
    lines += [_row("overall", "", m, f) for m, f in report.overall().items()]
    return "\n".join(lines)


def write_cross_json(report: CrossReport, path: Path, overwrite: bool = False) -> None:
    """The figures as JSON, written to a temporary name and renamed (never over a file made meanwhile, unasked)."""
    with atomic_path(path, suffix=".partial.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=True))
