"""Reconstruction evaluation, the FOMM / TPSMM protocol: a video drives its own first frame.

For each video (optionally a frame range of it) the first frame is the source; every frame is the driving frame and
the target. All frames are cropped with the SOURCE frame's crop box at 256×256, so head motion stays visible; the
target landmarks are each frame's own MediaPipe landmarks in that crop (same-identity reconstruction). Three methods
side by side: no motion (the source copied), the analytic TPS warp, and the trained model. Metrics against the
real crop: L1 (pixels in [0, 1]), PSNR, SSIM, and with an independent detector (dlib) AKD (68-point distance in
pixels) and AED (face-descriptor distance). Frames where MediaPipe or dlib finds no face in the real frame are
left out and counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from reenact.engine.atomic import atomic_path
from reenact.engine.config import CropConfig, WarpConfig
from reenact.engine.errors import ReenactError
from reenact.engine.face import crop_box, crop_face
from reenact.engine.landmarks import WARP_SUBSET
from reenact.engine.model.checkpoint import load_checkpoint
from reenact.engine.runtime import configure_torch
from reenact.engine.warp import HeadWarp, to_normalized, warp_image
from reenact.training.cache import find_videos, read_frames, tracked_landmarks
from reenact.training.face_metrics import DlibJudge, FaceReading, identity_distance, keypoint_distance
from reenact.training.losses import ssim

METHODS = ("none", "warp", "model")
METRICS = ("l1", "akd", "aed", "psnr", "ssim")
_SUBSET = np.array(WARP_SUBSET)


@dataclass(frozen=True, slots=True)
class EvalOptions:
    videos: Path
    weights: Path
    start: int = 0
    stop: int | None = None
    stride: int = 1
    cache_dir: Path = Path("runs/cache")
    progress: bool = True
    batch: int = 8


@dataclass(slots=True)
class VideoScores:
    """Per-frame scores of one video: method → metric → values."""

    frames: int = 0
    skipped: int = 0
    values: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {m: {k: [] for k in METRICS} for m in METHODS})

    def means(self) -> dict[str, dict[str, float]]:
        return {m: {k: _mean(v) for k, v in d.items()} for m, d in self.values.items()}


@dataclass(slots=True)
class EvalReport:
    videos: dict[str, VideoScores]
    weights: Path

    def overall(self) -> dict[str, dict[str, float]]:
        """Frame-weighted means over all videos."""
        return {m: {k: _mean([x for v in self.videos.values() for x in v.values[m][k]]) for k in METRICS}
                for m in METHODS}

    def to_dict(self) -> dict[str, dict]:
        return {"overall": self.overall(), "videos": {n: v.means() for n, v in self.videos.items()}}


def _mean(values: list[float]) -> float:
    finite = [x for x in values if math.isfinite(x)]
    return float(np.mean(finite)) if finite else float("nan")


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


class ModelRenderer:
    """The trained model on a fixed source crop: encoder once per source, frame net on batches of grids."""

    def __init__(self, weights: Path) -> None:
        configure_torch()
        self.model = load_checkpoint(weights).build()
        self.size = self.model.config.size
        self._source: tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor] | None = None

    @torch.inference_mode()
    def set_source(self, source: NDArray[np.uint8], src_lms: NDArray) -> None:
        src = torch.from_numpy(source.transpose(2, 0, 1).copy()).float().div(255)[None]
        self._source = (src, tuple(self.model.encoder(src)),
                        torch.from_numpy(to_normalized(src_lms[_SUBSET], self.size))[None])

    @torch.inference_mode()
    def render(self, grids: list[NDArray], targets: list[NDArray]) -> list[NDArray[np.uint8]]:
        assert self._source is not None, "set_source first"
        src, feats, kp_s = self._source
        n = len(grids)
        kp_d = torch.from_numpy(np.stack([to_normalized(t[_SUBSET], self.size) for t in targets]))
        grid = torch.from_numpy(np.stack(grids))
        out = self.model.frame(src.expand(n, -1, -1, -1), *(f.expand(n, -1, -1, -1) for f in feats), grid,
                               kp_s.expand(n, -1, -1), kp_d)[0]
        img = (out.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return list(img)


def _score(pred: NDArray[np.uint8], real: NDArray[np.uint8], real_face: FaceReading, real_box: object,
           judge: DlibJudge, pred_face: FaceReading | None = None) -> dict[str, float]:
    a = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255
    b = torch.from_numpy(real).permute(2, 0, 1)[None].float() / 255
    mse = float(((a - b) ** 2).mean())
    scores = {"l1": float((a - b).abs().mean()), "psnr": _psnr(mse), "ssim": float(ssim(a, b)[0])}
    face = pred_face if pred_face is not None else judge.read(pred, real_box)[0]
    scores["akd"] = keypoint_distance(face, real_face) if face is not None else float("nan")
    scores["aed"] = identity_distance(face, real_face) if face is not None else float("nan")
    return scores


def evaluate_video(path: Path, opts: EvalOptions, renderer: ModelRenderer, judge: DlibJudge) -> VideoScores:
    size = renderer.size
    all_lms = tracked_landmarks(path, opts.cache_dir)
    stop = len(all_lms) if opts.stop is None else min(opts.stop, len(all_lms))
    if stop - opts.start < 2:
        raise ReenactError(f"frame range {opts.start}:{stop} holds fewer than two frames", path)
    if np.isnan(all_lms[opts.start, 0, 0]):
        raise ReenactError(f"no face in the source frame {opts.start}", path)
    scores = VideoScores()
    source = src_lms = box = source_face = head = None
    pending: list[tuple[NDArray, NDArray, NDArray]] = []  # (real crop, target landmarks, grid)

    def flush() -> None:
        if not pending:
            return
        preds = renderer.render([p[2] for p in pending], [p[1] for p in pending])
        for (real, _, grid), model_img in zip(pending, preds, strict=True):
            real_face, real_box = judge.read(real)
            if real_face is None:
                scores.skipped += 1
                continue
            scores.frames += 1
            for method, img in (("none", source), ("warp", warp_image(source, grid)), ("model", model_img)):
                known = source_face if method == "none" else None  # the copied source is the same every frame
                for k, v in _score(img, real, real_face, real_box, judge, known).items():
                    scores.values[method][k].append(v)
        pending.clear()

    from tqdm import tqdm

    bar = tqdm(total=len(range(opts.start, stop, opts.stride)), desc=path.stem, disable=not opts.progress,
               unit="frame", dynamic_ncols=True)
    for i, frame in enumerate(read_frames(path)):
        if i >= stop:
            break
        if i < opts.start or (i - opts.start) % opts.stride:
            continue
        bar.update(1)
        lms = all_lms[i]
        if i == opts.start:
            box = crop_box(lms, CropConfig(size=size))
        if np.isnan(lms[0, 0]):
            scores.skipped += 1
            continue
        fc = crop_face(frame, lms, box, size)
        target = fc.landmarks[:, :2]
        if i == opts.start:
            source, src_lms = fc.image, target
            source_face = judge.read(source)[0]
            renderer.set_source(source, src_lms)
            head = HeadWarp(src_lms, size, WarpConfig())  # the engine's own analytic motion
        pending.append((fc.image, target, head.crop_grid(head(target))))
        if len(pending) >= opts.batch:
            flush()
    flush()
    bar.close()
    return scores


def evaluate(opts: EvalOptions) -> EvalReport:
    if opts.stride < 1:
        raise ReenactError("--stride must be at least 1")
    videos = find_videos(opts.videos)
    renderer = ModelRenderer(opts.weights)
    judge = DlibJudge()
    return EvalReport({p.stem: evaluate_video(p, opts, renderer, judge) for p in videos}, opts.weights)


def format_table(report: EvalReport) -> str:
    head = f"{'video':<20} {'method':<6} {'frames':>6} {'L1':>8} {'AKD px':>8} {'AED':>7} {'PSNR dB':>8} {'SSIM':>7}"
    lines = [head, "-" * len(head)]

    def rows(name: str, frames: int, means: dict[str, dict[str, float]]) -> None:
        for m in METHODS:
            v = means[m]
            lines.append(f"{name:<20} {m:<6} {frames:>6} {v['l1']:>8.4f} {v['akd']:>8.3f} {v['aed']:>7.4f} "
                         f"{v['psnr']:>8.2f} {v['ssim']:>7.4f}")
            name = ""

    for name, scores in report.videos.items():
        rows(name[:20], scores.frames, scores.means())
    if len(report.videos) > 1:
        rows("overall", sum(s.frames for s in report.videos.values()), report.overall())
    skipped = sum(s.skipped for s in report.videos.values())
    if skipped:
        lines.append(f"({skipped} frame(s) without a face in the real frame were left out)")
    return "\n".join(lines)


def write_json(report: EvalReport, path: Path, overwrite: bool = False) -> None:
    """The metrics as JSON, written to a temporary name and renamed (never over a file made meanwhile, unasked)."""
    with atomic_path(path, suffix=".partial.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=True))
