"""Config files: every value is checked against its field's type and limits, and a mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.engine.config import ModelConfig, PipelineConfig, from_dict, load_yaml, setting_problem, to_dict
from reenact.engine.errors import ReenactError
from reenact.training.config import TrainConfig, load_train_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("data,message", [
    ({"face": {"max_faces": True}}, "face.max_faces must be a whole number, got True"),
    ({"face": {"min_detection_confidence": 1.5}}, "face.min_detection_confidence must be ≤ 1, got 1.5"),
    ({"face": {"smoothing": {"min_cutoff": 0}}}, "face.smoothing.min_cutoff must be > 0, got 0.0"),
    ({"motion": {"mode": "sideways"}}, "motion.mode must be one of relative, absolute, got 'sideways'"),
    ({"paste": {"feather": ".nan"}}, "paste.feather must be a number, got '.nan'"),
    ({"warp": [64]}, "warp must be a mapping, got [64]"),
])
def test_pipeline_values_outside_their_type_or_range_name_the_key(data, message):
    with pytest.raises(ReenactError) as exc:
        from_dict(PipelineConfig, data)
    assert str(exc.value) == message


@pytest.mark.parametrize("data,message", [
    ({"videos": [{"start": 3}]}, "videos[0]: missing setting(s) path"),
    ({"videos": [{"path": "a.mp4", "stop": 0}]}, "videos[0].stop must be ≥ 1, got 0"),
    ({"stills_dir": 5}, "stills_dir must be a path, got 5"),
    ({"ema_decay": 1}, "ema_decay must be < 1, got 1.0"),
    ({"lr_decay_at": [100, "later"]}, "lr_decay_at[1] must be a whole number, got 'later'"),
    ({"model": {"encoder_channels": [16, 32]}}, "model.encoder_channels must be a list of 3 items, got 2"),
    ({"loss": {"scales": [1.0, 0.0]}}, "loss.scales[1] must be > 0, got 0.0"),
])
def test_training_values_outside_their_type_or_range_name_the_key(data, message, tmp_path):
    with pytest.raises(ReenactError) as exc:
        _load_train(tmp_path, data)
    assert str(exc.value) == f"{tmp_path / 'train.yaml'}: {message}"


def _load_train(folder: Path, data: dict) -> TrainConfig:
    """Through the YAML file, as `reenact train --config` reads it."""
    import yaml

    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_train_config(path)


def test_values_are_converted_as_their_fields_say(tmp_path):
    (tmp_path / "typed").mkdir()
    (tmp_path / "again").mkdir()
    cfg = _load_train(tmp_path / "typed", {"lr": "2e-4", "warmup_steps": 5, "grad_clip": 2, "stills_dir": "faces",
                                           "blend_logit_init": None, "videos": ["clip.mp4"]})
    assert cfg.lr == 2e-4 and isinstance(cfg.lr, float)  # YAML 1.1 reads 2e-4 as text
    assert isinstance(cfg.grad_clip, float) and cfg.stills_dir == Path("faces") and cfg.blend_logit_init is None
    assert cfg.videos[0].path == Path("clip.mp4")
    assert _load_train(tmp_path / "again", to_dict(cfg)) == cfg
    # and the shipped configs pass their own checks
    assert load_yaml(PipelineConfig, REPO / "config" / "pipeline.yaml") == PipelineConfig()
    for name in ("train_franck.yaml", "train_franck_generator.yaml"):
        assert isinstance(load_train_config(REPO / "config" / name), TrainConfig)


def test_an_option_can_share_a_settings_limits():
    assert setting_problem(ModelConfig, "size", 256) is None
    assert setting_problem(ModelConfig, "size", 17) == "must be ≥ 64, got 17"
    assert setting_problem(ModelConfig, "size", 100) == "must be a multiple of 8, got 100"
