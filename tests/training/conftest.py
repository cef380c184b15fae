"""Tiny training data: the bundled driving clip (tracked once per session) and a few bundled avatars as stills."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP
from reenact.engine.config import ModelConfig
from reenact.training.cache import load_clip, load_stills
from reenact.training.config import LossConfig, TrainConfig, VideoSpec

TINY_MODEL = ModelConfig(size=64, encoder_channels=(8, 16, 16), frame_channels=8, expression_dim=8)


@pytest.fixture(scope="session")
def tiny_model() -> ModelConfig:
    return TINY_MODEL


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_data")
    videos, stills, cache = root / "videos", root / "stills", root / "cache"
    videos.mkdir()
    stills.mkdir()
    shutil.copy(DEFAULT_CLIP, videos / DEFAULT_CLIP.name)
    for name in ("mona_lisa.jpg", "astronaut.jpg"):
        shutil.copy(AVATARS_DIR / name, stills / name)
    load_clip(videos / DEFAULT_CLIP.name, cache, TINY_MODEL.size)  # tracked once; every test reuses the cache
    load_stills(stills, cache, TINY_MODEL.size)
    return {"videos": videos, "clip": videos / DEFAULT_CLIP.name, "stills": stills, "cache": cache}


@pytest.fixture()
def tiny_config(tiny_data: dict[str, Path], tmp_path: Path) -> TrainConfig:
    clip = tiny_data["clip"]
    return TrainConfig(
        name="tiny", out_dir=tmp_path / "run", cache_dir=tiny_data["cache"],
        videos=(VideoSpec(clip, 0, 120, chroma_key=True),), val_videos=(VideoSpec(clip, 120, 168),),
        stills_dir=tiny_data["stills"], still_fraction=0.3, model=TINY_MODEL, steps=20, batch_size=4, lr=3e-3,
        warmup_steps=1, workers=0, threads=2, log_every=1, checkpoint_every=10, sample_every=10, val_pairs=8,
        loss=replace(LossConfig(), scales=(1.0, 0.5), face_flow_weight=0.5), blend_logit_init=0.0, ema_decay=0.8,
    )
