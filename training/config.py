"""Typed training settings, loaded from config/train_*.yaml.

Paths in a config are relative to the directory the command runs in (the repository root in the documented
commands), so one YAML works for a local run and for `torchrun` on another machine with the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reenact.engine.config import CropConfig, ModelConfig, WarpConfig, from_dict, load_yaml, to_dict
from reenact.engine.errors import ReenactError


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """One training or validation video (or folder of frames) and the frames of it that may be used."""

    path: Path
    start: int = 0
    stop: int | None = None  # exclusive; None = to the end
    chroma_key: bool = False  # a blue-screen background that should be replaced by random ones


@dataclass(frozen=True, slots=True)
class AugmentConfig:
    background_prob: float = 0.8  # chroma-keyed videos: chance of a random background per pair
    color_prob: float = 0.9  # chance of one random colour transform applied to both images of a pair
    gamma: tuple[float, float] = (0.7, 1.4)
    gain: tuple[float, float] = (0.75, 1.25)
    # Synthetic pairs from stills: random affine plus a smooth random field (fractions of the crop side).
    still_rotation_deg: float = 8.0
    still_scale: float = 0.08
    still_shift: float = 0.05
    still_field: float = 0.03
    still_field_points: int = 4


@dataclass(frozen=True, slots=True)
class LossConfig:
    scales: tuple[float, ...] = (1.0, 0.5, 0.25)
    l1_weight: float = 1.0
    ssim_weight: float = 0.5
    region_weight: float = 2.0  # extra weight on eyes and mouth, where the warp fails most
    # Penalty on the residual flow inside the face oval, where the landmark warp is already accurate to 1–3 px:
    # the flow is for what the landmarks do not reach (hair, neck, background); inside the face it only moved
    # keypoints away from the real ones (AKD rose while L1 fell).
    face_flow_weight: float = 0.0
    # Weighted L1 on the generator's own RGB (before the blend with the warped avatar). While the blend sits on the
    # warp, the generator gets almost no gradient through the final image; this loss trains it directly, so the
    # blend can switch to it where the warp cannot follow (mouth closing over teeth, cheeks after a smile).
    generator_weight: float = 0.0
    # Penalty on the blend away from the warped avatar outside the eyes and the mouth: the generator may replace
    # what the warp cannot show (lips closing over teeth, lids, eyes) but not the rest of the head, where its
    # half-resolution output only blurs what the warp keeps sharp.
    blend_outside_weight: float = 0.0


@dataclass(frozen=True, slots=True)
class TrainConfig:
    name: str = "default"
    out_dir: Path = Path("runs/default")
    cache_dir: Path = Path("runs/cache")
    videos: tuple[VideoSpec, ...] = ()
    val_videos: tuple[VideoSpec, ...] = ()
    stills_dir: Path | None = None
    still_fraction: float = 0.3
    model: ModelConfig = field(default_factory=ModelConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    steps: int = 100_000
    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    lr_decay_at: tuple[int, ...] = ()  # steps at which the learning rate is divided by 10
    grad_clip: float = 1.0
    workers: int = 1
    threads: int = 2
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 250
    sample_every: int = 250
    keep_checkpoints: int = 3
    val_pairs: int = 32
    # Exponential moving average of the weights (0 = off): the pair stream is very diverse, so single steps are
    # noisy; the average is what gets validated, kept as best.pt and shipped.
    ema_decay: float = 0.999
    init_weights: Path | None = None  # start from these weights instead of from scratch
    # Fresh runs: logit of the initial blend towards the warped avatar. The network's own default (3 → 95 % warp)
    # starts measurably worse than the warp alone, and AdamW moves a bias only ~lr per step; 6 (99.75 %) starts at
    # parity, so every later step is an improvement over the analytic baseline.
    blend_logit_init: float | None = 6.0
    # Runs from init_weights: set the blend logit to this (None keeps the loaded value). Fine-tuning the generator
    # lowers it so the blend mask, saturated at the warp, gets a gradient again.
    blend_logit_reset: float | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.steps < 0:
            raise ReenactError("batch_size must be ≥ 1 and steps ≥ 0")
        if not 0.0 <= self.still_fraction <= 1.0:
            raise ReenactError("still_fraction must be between 0 and 1")
        if self.loss.blend_outside_weight > 0 and self.loss.region_weight <= 0:
            raise ReenactError("loss.blend_outside_weight needs loss.region_weight > 0 (it marks the eyes and mouth)")


def _video_shorthand(data: Any) -> Any:
    """`videos: [clip.mp4]` is short for `videos: [{path: clip.mp4}]` (and the same for val_videos)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in ("videos", "val_videos"):
        if isinstance(data.get(key), list):
            data[key] = [{"path": item} if isinstance(item, str) else item for item in data[key]]
    return data


def train_config_from_dict(data: dict[str, Any] | None) -> TrainConfig:
    return from_dict(TrainConfig, _video_shorthand(data))


def train_config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return to_dict(cfg)


def load_train_config(path: str | Path) -> TrainConfig:
    return load_yaml(TrainConfig, path, prepare=_video_shorthand)
