"""Typed training settings, loaded from config/train_*.yaml.

Paths in a config are relative to the directory the command runs in (the repository root in the documented
commands), so one YAML works for a local run and for `torchrun` on another machine with the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reenact.engine.config import CropConfig, ModelConfig, WarpConfig, load_yaml, setting, to_dict
from reenact.engine.errors import ReenactError, require_file


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """One training or validation video (or folder of frames) and the frames of it that may be used."""

    path: Path
    start: int = setting(0, min=0)
    stop: int | None = setting(None, min=1)  # exclusive; None = to the end
    chroma_key: bool = False  # a blue-screen background that should be replaced by random ones


@dataclass(frozen=True, slots=True)
class AugmentConfig:
    background_prob: float = setting(0.8, min=0, max=1)  # chroma-keyed videos: chance of a random background per pair
    color_prob: float = setting(0.9, min=0, max=1)  # chance of one random colour transform applied to both images of a pair
    gamma: tuple[float, float] = setting((0.7, 1.4), above=0)
    gain: tuple[float, float] = setting((0.75, 1.25), min=0)
    # Synthetic pairs from stills: random affine plus a smooth random field (fractions of the crop side).
    still_rotation_deg: float = setting(8.0, min=0)
    still_scale: float = setting(0.08, min=0)
    still_shift: float = setting(0.05, min=0)
    still_field: float = setting(0.03, min=0)
    still_field_points: int = setting(4, min=2)


@dataclass(frozen=True, slots=True)
class LossConfig:
    scales: tuple[float, ...] = setting((1.0, 0.5, 0.25), above=0, max=1)
    l1_weight: float = setting(1.0, min=0)
    ssim_weight: float = setting(0.5, min=0)
    region_weight: float = setting(2.0, min=0)  # extra weight on eyes and mouth, where the warp fails most
    # Penalty on the residual flow inside the face oval, where the landmark warp is already accurate to 1–3 px:
    # the flow is for what the landmarks do not reach (hair, neck, background); inside the face it only moved
    # keypoints away from the real ones (AKD rose while L1 fell).
    face_flow_weight: float = setting(0.0, min=0)
    # Weighted L1 on the generator's own RGB (before the blend with the warped avatar). While the blend sits on the
    # warp, the generator gets almost no gradient through the final image; this loss trains it directly, so the
    # blend can switch to it where the warp cannot follow (mouth closing over teeth, cheeks after a smile).
    generator_weight: float = setting(0.0, min=0)
    # Penalty on the blend away from the warped avatar outside the eyes and the mouth: the generator may replace
    # what the warp cannot show (lips closing over teeth, lids, eyes) but not the rest of the head, where its
    # half-resolution output only blurs what the warp keeps sharp.
    blend_outside_weight: float = setting(0.0, min=0)
    # A smaller network learning from a trained one (TrainConfig.teacher): L1 between the student's layers and the
    # teacher's (the blended crop, the blend mask, the generated RGB where it shows, the residual flow in pixels).
    # The ground truth alone would have to find the same solution again from 4000 frames of one person; the
    # teacher's layers tell the student where the warp is kept and what the generator draws, on every pair.
    distill_weight: float = setting(0.0, min=0)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    name: str = "default"
    out_dir: Path = Path("runs/default")
    cache_dir: Path = Path("runs/cache")
    videos: tuple[VideoSpec, ...] = ()
    val_videos: tuple[VideoSpec, ...] = ()
    stills_dir: Path | None = None
    still_fraction: float = setting(0.3, min=0, max=1)
    model: ModelConfig = field(default_factory=ModelConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    steps: int = setting(100_000, min=1)
    batch_size: int = setting(8, min=1)
    lr: float = setting(2e-4, above=0)
    weight_decay: float = setting(1e-4, min=0)
    warmup_steps: int = setting(200, min=0)
    lr_decay_at: tuple[int, ...] = setting((), min=1)  # steps at which the learning rate is divided by 10
    grad_clip: float = setting(1.0, min=0)  # 0 = off
    workers: int = setting(1, min=0)
    threads: int = setting(2, min=1)
    seed: int = 0
    log_every: int = setting(10, min=1)
    checkpoint_every: int = setting(250, min=1)
    sample_every: int = setting(250, min=1)
    keep_checkpoints: int = setting(3, min=1)
    val_pairs: int = setting(32, min=1)
    # Exponential moving average of the weights (0 = off): the pair stream is very diverse, so single steps are
    # noisy; the average is what gets validated, kept as best.pt and shipped.
    ema_decay: float = setting(0.999, min=0, below=1)
    init_weights: Path | None = None  # start from these weights instead of from scratch
    teacher: Path | None = None  # distil from this trained checkpoint (needs loss.distill_weight > 0)
    # Fresh runs: logit of the initial blend towards the warped avatar. The network's own default (3 → 95 % warp)
    # starts measurably worse than the warp alone, and AdamW moves a bias only ~lr per step; 6 (99.75 %) starts at
    # parity, so every later step is an improvement over the analytic baseline.
    blend_logit_init: float | None = 6.0
    # Runs from init_weights: set the blend logit to this (None keeps the loaded value). Fine-tuning the generator
    # lowers it so the blend mask, saturated at the warp, gets a gradient again.
    blend_logit_reset: float | None = None

    def __post_init__(self) -> None:
        if not self.model.generator and (self.loss.generator_weight > 0 or self.loss.blend_outside_weight > 0):
            raise ReenactError("loss.generator_weight and loss.blend_outside_weight need model.generator: a model "
                               "without the generator branch has no generated RGB or blend mask to train")
        if (self.teacher is None) != (self.loss.distill_weight == 0):
            raise ReenactError("teacher and loss.distill_weight go together: set both or neither")
        if self.loss.blend_outside_weight > 0 and self.loss.region_weight <= 0:
            raise ReenactError("loss.blend_outside_weight needs loss.region_weight > 0 (it marks the eyes and mouth)")


def check_inputs(cfg: TrainConfig) -> None:
    """The files and folders a config names exist: checked before a model is built or a video tracked, so a typo
    in a path is refused at once, not after minutes of work."""
    for spec in (*cfg.videos, *cfg.val_videos):
        if not spec.path.exists():
            raise ReenactError("video not found (named in the training config)", spec.path)
    if cfg.stills_dir is not None and not cfg.stills_dir.is_dir():
        raise ReenactError("stills_dir: not a folder", cfg.stills_dir)
    if cfg.init_weights is not None:
        require_file(cfg.init_weights, "init_weights checkpoint")
    if cfg.teacher is not None:
        require_file(cfg.teacher, "teacher checkpoint")


def _video_shorthand(data: Any) -> Any:
    """`videos: [clip.mp4]` is short for `videos: [{path: clip.mp4}]` (and the same for val_videos)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in ("videos", "val_videos"):
        if isinstance(data.get(key), list):
            data[key] = [{"path": item} if isinstance(item, str) else item for item in data[key]]
    return data


def train_config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return to_dict(cfg)


def load_train_config(path: str | Path) -> TrainConfig:
    return load_yaml(TrainConfig, path, prepare=_video_shorthand)
