"""Training pairs (source, driving) with exactly what the pipeline feeds the model at run time.

Each item is one pair: the source crop, the driving crop (the target), the thin-plate-spline grid from the source's
landmarks to the driving frame's landmarks (in same-identity reconstruction the driving landmarks are the target
landmarks, as the evaluation protocol has it), and both landmark sets normalised. Items are a pure function of
their index (the random generator is seeded with it), so a resumed or multi-process run draws the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from reenact.engine.landmarks import WARP_SUBSET
from reenact.engine.warp import HeadWarp, to_normalized
from reenact.training.augment import (
    ColorTransform,
    blue_screen_mask,
    composite,
    face_mask,
    random_background,
    random_warp,
    region_weights,
)
from reenact.training.cache import FaceClip, StillFaces, load_clip, load_stills
from reenact.training.config import TrainConfig, VideoSpec

_SUBSET = np.array(WARP_SUBSET)


@dataclass(frozen=True, slots=True)
class ClipRange:
    clip: FaceClip
    frames: NDArray[np.int64]  # usable frame indices (inside the range, face found)
    chroma_key: bool


def load_ranges(specs: tuple[VideoSpec, ...], cfg: TrainConfig) -> list[ClipRange]:
    out = []
    for spec in specs:
        clip = load_clip(spec.path, cfg.cache_dir, cfg.model.size, cfg.crop)
        stop = len(clip) if spec.stop is None else min(spec.stop, len(clip))
        idx = np.arange(spec.start, stop)
        idx = idx[clip.valid[idx]]
        if len(idx) >= 2:
            out.append(ClipRange(clip, idx, spec.chroma_key))
    return out


def to_tensor(image: NDArray[np.uint8]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def make_item(source: NDArray[np.uint8], driving: NDArray[np.uint8], src_lms: NDArray[np.float32],
              drv_lms: NDArray[np.float32], cfg: TrainConfig) -> dict[str, torch.Tensor]:
    size = cfg.model.size
    head = HeadWarp(src_lms, size, cfg.warp)  # the engine's own analytic motion, as the network gets it at run time
    grid = head.crop_grid(head(drv_lms))
    return {
        "source": to_tensor(source),
        "driving": to_tensor(driving),
        "grid": torch.from_numpy(np.ascontiguousarray(grid)),
        "kp_source": torch.from_numpy(to_normalized(src_lms[_SUBSET], size)),
        "kp_driving": torch.from_numpy(to_normalized(drv_lms[_SUBSET], size)),
        "weight": torch.from_numpy(region_weights(drv_lms, size, cfg.loss.region_weight))[None],
        "face": torch.from_numpy(face_mask(drv_lms, size))[None],
    }


class PairDataset(Dataset):
    """Random training pairs: frames of one video (random backgrounds and colours) or a warped still photo."""

    def __init__(self, cfg: TrainConfig, length: int, ranges: list[ClipRange] | None = None,
                 stills: StillFaces | None = None, seed: int | None = None) -> None:
        self.cfg = cfg
        self.length = length
        self.seed = cfg.seed if seed is None else seed
        self.ranges = load_ranges(cfg.videos, cfg) if ranges is None else ranges
        if stills is None and cfg.stills_dir is not None:
            stills = load_stills(cfg.stills_dir, cfg.cache_dir, cfg.model.size, cfg.crop)
        self.stills = stills
        if not self.ranges and (self.stills is None or cfg.still_fraction <= 0):
            from reenact.engine.errors import ReenactError

            raise ReenactError("no training data: no video with a face in its frame range, and no still faces")
        weights = np.array([len(r.frames) for r in self.ranges], dtype=np.float64)
        self.video_p = weights / weights.sum() if len(weights) else weights
        self.backgrounds = stills.photos if stills is not None else ()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        use_still = self.stills is not None and (not self.ranges or rng.random() < self.cfg.still_fraction)
        if use_still:
            source, driving, src_lms, drv_lms = self._still_pair(rng)
        else:
            source, driving, src_lms, drv_lms = self._video_pair(rng)
        if rng.random() < self.cfg.augment.color_prob:
            ct = ColorTransform(rng, self.cfg.augment)
            source, driving = ct(source), ct(driving)
        return make_item(source, driving, src_lms, drv_lms, self.cfg)

    def _video_pair(self, rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        r = self.ranges[rng.choice(len(self.ranges), p=self.video_p)]
        i, j = rng.choice(r.frames, 2, replace=False)
        source, driving = np.array(r.clip.crops[i]), np.array(r.clip.crops[j])
        if r.chroma_key and rng.random() < self.cfg.augment.background_prob:
            bg = random_background(rng, self.backgrounds, source.shape[0])
            source = composite(source, blue_screen_mask(source), bg)
            driving = composite(driving, blue_screen_mask(driving), bg)
        return source, driving, r.clip.landmarks[i], r.clip.landmarks[j]

    def _still_pair(self, rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        assert self.stills is not None
        k = int(rng.integers(len(self.stills)))
        image, lms = self.stills.crops[k], self.stills.landmarks[k]
        a_img, a_lms = random_warp(rng, image, lms, self.cfg.augment)
        b_img, b_lms = random_warp(rng, image, lms, self.cfg.augment)
        return a_img, b_img, a_lms, b_lms


class FixedPairs(Dataset):
    """Held-out pairs without augmentation, the same every time: for validation curves and sample grids."""

    def __init__(self, cfg: TrainConfig, count: int, ranges: list[ClipRange] | None = None) -> None:
        self.cfg = cfg
        self.ranges = load_ranges(cfg.val_videos, cfg) if ranges is None else ranges
        rng = np.random.default_rng(12345)
        self.pairs: list[tuple[int, int, int]] = []
        if self.ranges:
            for n in range(count):
                r = n % len(self.ranges)
                i, j = rng.choice(self.ranges[r].frames, 2, replace=False)
                self.pairs.append((r, int(i), int(j)))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        r, i, j = self.pairs[index]
        clip = self.ranges[r].clip
        return make_item(np.array(clip.crops[i]), np.array(clip.crops[j]), clip.landmarks[i], clip.landmarks[j],
                         self.cfg)
