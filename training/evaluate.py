"""Reconstruction evaluation, the FOMM / TPSMM protocol: a video drives its own first frame.

For each video (optionally a frame range of it, optionally split into clips) the first frame is the source; every
later frame is the driving frame and the target. The source frame itself is not scored: the copy and the warp
reproduce it exactly (a perfect copy's PSNR is unbounded, and one such frame outweighed a clip's other frames in the
mean PSNR), which tests nothing. The warp and the model are rendered by the engine itself
(`Pipeline.render`, at the frame's full resolution, the path the demo and the app take), each frame's own MediaPipe
landmarks as the target (same-identity reconstruction), so what is scored is what a user sees. Every result and
every real frame is then cut with the SOURCE frame's crop box at 256×256, so head motion stays visible. Three
methods side by side: no motion (the source crop copied), the analytic warp, and the trained model. Metrics
against the real crop: L1 (pixels in [0, 1]), PSNR, SSIM, and with an independent detector (dlib) AKD (68-point
distance in pixels; also over the mouth's and the eyes' points alone) and AED (face-descriptor distance). Frames
where MediaPipe or dlib finds no face in the real frame are left out and counted.
"""

from __future__ import annotations

import json
import math
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from reenact.engine.atomic import atomic_path
from reenact.engine.backends.loader import load_backend
from reenact.engine.config import CropConfig
from reenact.engine.driver import look
from reenact.engine.errors import ReenactError
from reenact.engine.face import CropBox, crop_box, crop_face, transform_points
from reenact.engine.pipeline import DrivingFace, Pipeline
from reenact.training.cache import find_videos, read_range, tracked_landmarks
from reenact.training.face_metrics import (
    EYES,
    MOUTH,
    DlibJudge,
    FaceReading,
    identity_distance,
    keypoint_distance,
)
from reenact.training.losses import ssim

METHODS = ("none", "warp", "model")
RENDERED = ("warp", "model")  # the methods the engine renders
METRICS = ("l1", "akd", "akd_mouth", "akd_eyes", "aed", "psnr", "ssim")
SIZE = 256  # every result is scored at 256×256, as FOMM's pre-cropped videos are


@dataclass(frozen=True, slots=True)
class EvalOptions:
    videos: Path
    weights: Path
    start: int = 0
    stop: int | None = None
    stride: int = 1
    clip_length: int | None = None  # consecutive clips of this many frames, each driving its own first frame
    cache_dir: Path = Path("runs/cache")
    progress: bool = True
    backend: str = "torch"  # what runs the model rows: torch on a checkpoint; onnxruntime on an export folder


@dataclass(slots=True)
class Scores:
    """Per-frame scores of one video or clip: method → metric → values."""

    frames: int = 0
    skipped: int = 0
    values: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {m: {k: [] for k in METRICS} for m in METHODS})

    def means(self) -> dict[str, dict[str, float]]:
        return {m: {k: _mean(v) for k, v in d.items()} for m, d in self.values.items()}

    def add(self, other: Scores) -> None:
        """Pool another clip's frames into these."""
        self.frames += other.frames
        self.skipped += other.skipped
        for m, d in other.values.items():
            for k, v in d.items():
                self.values[m][k].extend(v)


@dataclass(slots=True)
class EvalReport:
    videos: dict[str, Scores]  # every video's frames, its clips pooled
    weights: Path
    clips: dict[str, Scores] = field(default_factory=dict)  # "name[a:b]" → scores; empty without clip_length

    def overall(self) -> dict[str, dict[str, float]]:
        """Frame-weighted means over all videos."""
        pooled = Scores()
        for v in self.videos.values():
            pooled.add(v)
        return pooled.means()

    def to_dict(self) -> dict[str, dict]:
        data = {"overall": self.overall(), "videos": {n: v.means() for n, v in self.videos.items()}}
        if self.clips:
            data["clips"] = {n: c.means() for n, c in self.clips.items()}
        return data


def _mean(values: list[float]) -> float:
    finite = [x for x in values if math.isfinite(x)]
    return float(np.mean(finite)) if finite else float("nan")


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


def clip_bounds(start: int, stop: int, length: int | None, stride: int = 1) -> list[tuple[int, int]]:
    """[start, stop) as consecutive clips of `length` frames (one clip without a length). A leftover too short to
    hold a frame scored after its source (every `stride`-th) joins the clip before it: alone it would score
    nothing."""
    if length is None:
        return [(start, stop)]
    bounds = [(a, min(a + length, stop)) for a in range(start, stop, length)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] <= stride:
        bounds[-2:] = [(bounds[-2][0], stop)]
    return bounds


def clip_name(video: str, bounds: tuple[int, int]) -> str:
    return f"{video}[{bounds[0]}:{bounds[1]}]"


def _score(pred: NDArray[np.uint8], real: NDArray[np.uint8], real_face: FaceReading, real_box: object,
           judge: DlibJudge, pred_face: FaceReading | None = None) -> dict[str, float]:
    a = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255
    b = torch.from_numpy(real).permute(2, 0, 1)[None].float() / 255
    mse = float(((a - b) ** 2).mean())
    scores = {"l1": float((a - b).abs().mean()), "psnr": _psnr(mse), "ssim": float(ssim(a, b)[0])}
    face = pred_face if pred_face is not None else judge.read(pred, real_box)[0]
    for key, part in (("akd", slice(None)), ("akd_mouth", MOUTH), ("akd_eyes", EYES)):
        scores[key] = keypoint_distance(face, real_face, part) if face is not None else float("nan")
    scores["aed"] = identity_distance(face, real_face) if face is not None else float("nan")
    return scores


@dataclass(slots=True)
class _Source:
    """A clip's first frame: its crop box (every frame of the clip is cut with it), crop and dlib reading."""

    box: CropBox
    crop: NDArray[np.uint8]
    face: FaceReading | None


def _set_source(frame: NDArray[np.uint8], lms: NDArray, pipes: dict[str, Pipeline], judge: DlibJudge) -> _Source:
    """Prepare every renderer with the source frame and its known landmarks (no detection, as in training), which
    is also the driver's reference: the frame whose look the avatar's own is."""
    for pipe in pipes.values():
        pipe.prepare(frame, "source frame", lms)
        pipe.set_reference(lms, look(frame, lms))  # the driver is the avatar: his reference is the source frame
    box = crop_box(lms, CropConfig(size=SIZE))
    crop = crop_face(frame, lms, box, SIZE).image
    return _Source(box, crop, judge.read(crop)[0])


def _render(pipe: Pipeline, frame: NDArray[np.uint8], lms: NDArray, box: CropBox) -> NDArray[np.uint8]:
    """The engine's full-resolution result for a frame's own landmarks, cut with the source's box."""
    assert pipe.avatar is not None
    target = transform_points(lms, pipe.avatar.crop.to_crop)[:, :2]
    return crop_face(pipe.render(target, DrivingFace(frame, lms)).image, lms, box, SIZE).image


def _score_frame(frame: NDArray[np.uint8], lms: NDArray, source: _Source, pipes: dict[str, Pipeline],
                 judge: DlibJudge, scores: Scores) -> None:
    if np.isnan(lms[0, 0]):
        scores.skipped += 1
        return
    real = crop_face(frame, lms, source.box, SIZE).image
    real_face, real_box = judge.read(real)
    if real_face is None:
        scores.skipped += 1
        return
    scores.frames += 1
    results = {"none": (source.crop, source.face)}  # the copied source is the same every frame: read once
    results.update({m: (_render(pipes[m], frame, lms, source.box), None) for m in RENDERED})
    for method, (img, known) in results.items():
        for k, v in _score(img, real, real_face, real_box, judge, known).items():
            scores.values[method][k].append(v)


def evaluate_video(path: Path, opts: EvalOptions, pipes: dict[str, Pipeline], judge: DlibJudge
                   ) -> dict[tuple[int, int], Scores]:
    """Scores of every clip of one video, by its frame bounds."""
    all_lms = tracked_landmarks(path, opts.cache_dir)
    stop = len(all_lms) if opts.stop is None else min(opts.stop, len(all_lms))
    if stop - opts.start <= opts.stride:
        every = f" (every {opts.stride}th)" if opts.stride > 1 else ""
        raise ReenactError(f"frame range {opts.start}:{stop} holds no frame to score after its source{every}", path)
    bounds = clip_bounds(opts.start, stop, opts.clip_length, opts.stride)
    for a, _ in bounds:
        if np.isnan(all_lms[a, 0, 0]):
            raise ReenactError(f"no face in the source frame {a}", path)
    clips = {b: Scores() for b in bounds}
    firsts = {a: (a, b) for a, b in bounds}
    from tqdm import tqdm

    scored = sum(len(range(a + opts.stride, b, opts.stride)) for a, b in bounds)
    bar = tqdm(total=scored, desc=path.stem, disable=not opts.progress, unit="frame", dynamic_ncols=True)
    current = source = None
    for i, frame in read_range(path, opts.start, stop):
        if i in firsts:
            current = firsts[i]
            source = _set_source(frame, all_lms[i], pipes, judge)
        assert current is not None and source is not None
        if i == current[0] or (i - current[0]) % opts.stride:  # the source drives the clip; it is not a test
            continue
        bar.update(1)
        _score_frame(frame, all_lms[i], source, pipes, judge, clips[current])
    bar.close()
    return clips


def evaluate(opts: EvalOptions) -> EvalReport:
    if opts.stride < 1:
        raise ReenactError("--stride must be at least 1")
    if opts.clip_length is not None and opts.clip_length < 2:
        raise ReenactError("--clip-length must be at least 2 (a source and a frame it drives)")
    videos = find_videos(opts.videos)
    judge = DlibJudge()
    report = EvalReport({}, opts.weights)
    with ExitStack() as stack:
        backend = stack.enter_context(load_backend(opts.backend, opts.weights))
        pipes = {"warp": stack.enter_context(Pipeline()), "model": stack.enter_context(Pipeline(None, backend))}
        for path in videos:
            clips = evaluate_video(path, opts, pipes, judge)
            pooled = report.videos[path.stem] = Scores()
            for bounds, scores in clips.items():
                pooled.add(scores)
                if opts.clip_length is not None:
                    report.clips[clip_name(path.stem, bounds)] = scores
    return report


def _beats_none(means: dict[str, dict[str, float]], method: str) -> bool:
    """Whether a method's L1 is below that of copying the source: the least a reconstruction must do."""
    return means[method]["l1"] < means["none"]["l1"]


def _rows(name: str, frames: int, means: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for m in METHODS:
        v = means[m]
        mark = "" if m == "none" else ("yes" if _beats_none(means, m) else "NO")
        lines.append(f"{name:<24} {m:<6} {frames:>6} {v['l1']:>8.4f} {mark:>6} {v['akd']:>7.3f} "
                     f"{v['akd_mouth']:>7.3f} {v['akd_eyes']:>7.3f} {v['aed']:>7.4f} {v['psnr']:>8.2f} "
                     f"{v['ssim']:>7.4f}")
        name = ""
    return lines


def _clip_summary(clips: dict[str, Scores]) -> str:
    means = [c.means() for c in clips.values()]
    counts = ", ".join(f"{m} {sum(_beats_none(x, m) for x in means)}/{len(means)}" for m in RENDERED)
    return f"clips where L1 beats copying the source (none): {counts}"


def format_table(report: EvalReport) -> str:
    """Per clip (with clip_length), per video, and overall; `<none` says whether a method's L1 beats none's."""
    head = (f"{'video / clip':<24} {'method':<6} {'frames':>6} {'L1':>8} {'<none':>6} {'AKD px':>7} {'mouth':>7} "
            f"{'eyes':>7} {'AED':>7} {'PSNR dB':>8} {'SSIM':>7}")
    lines = [head, "-" * len(head)]
    for name, scores in report.clips.items():
        lines += _rows(name[:24], scores.frames, scores.means())
    for name, scores in report.videos.items():
        lines += _rows(name[:24], scores.frames, scores.means())
    if len(report.videos) > 1:
        lines += _rows("overall", sum(s.frames for s in report.videos.values()), report.overall())
    if report.clips:
        lines.append(_clip_summary(report.clips))
    skipped = sum(s.skipped for s in report.videos.values())
    if skipped:
        lines.append(f"({skipped} frame(s) without a face in the real frame were left out)")
    return "\n".join(lines)


def write_json(report: EvalReport, path: Path, overwrite: bool = False) -> None:
    """The metrics as JSON, written to a temporary name and renamed (never over a file made meanwhile, unasked)."""
    with atomic_path(path, suffix=".partial.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=True))
