"""Training really learns, survives a stop, and runs as two DDP processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from reenact.engine.model.checkpoint import load_checkpoint
from reenact.engine.model.networks import ReenactModel
from reenact.training.config import TrainConfig, load_train_config, train_config_to_dict
from reenact.training.dataset import FixedPairs
from reenact.training.losses import generator_l1
from reenact.training.train import train, validate

REPO = Path(__file__).resolve().parents[2]


def test_twenty_steps_lower_the_held_out_loss(tiny_config: TrainConfig) -> None:
    torch.manual_seed(0)
    val = FixedPairs(tiny_config, 8)
    fresh = ReenactModel(tiny_config.model)
    with torch.no_grad():
        fresh.frame.out.bias[3] = tiny_config.blend_logit_init
    before = validate(fresh, val, torch.device("cpu"))["val_l1_model"]

    result = train(tiny_config, progress=False)

    after = validate(load_checkpoint(result.last).build(), val, torch.device("cpu"))["val_l1_model"]
    assert result.step == 20
    print(f"held-out L1 before {before:.4f} after {after:.4f}")
    assert after < 0.8 * before, (before, after)
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert sum(losses[-5:]) < sum(losses[:5])
    out = tiny_config.out_dir
    assert (out / "loss.png").stat().st_size > 0
    assert (out / "samples" / "step_0000020.png").stat().st_size > 0
    # best.pt holds the weight average, which has learnt too
    assert validate(load_checkpoint(out / "best.pt").build(), val, torch.device("cpu"))["val_l1_model"] < 0.8 * before


def test_resume_continues_from_the_saved_step(tiny_config: TrainConfig) -> None:
    cfg = replace(tiny_config, checkpoint_every=5)
    first = train(cfg, steps=10, progress=False)
    saved = load_checkpoint(first.last)
    assert saved.step == 10 and "optimizer" in saved.extra and "ema" in saved.extra

    second = train(cfg, resume=True, steps=14, progress=False)
    assert second.step == 14
    steps = [h["step"] for h in second.history if "loss" in h]
    assert steps[:10] == list(range(1, 11)) and steps[10:] == [11, 12, 13, 14]
    resumed = load_checkpoint(second.last)
    assert resumed.step == 14
    assert any(not torch.equal(resumed.state_dict[k], saved.state_dict[k]) for k in saved.state_dict)


def test_resume_without_a_run_is_a_clear_error(tiny_config: TrainConfig) -> None:
    from reenact.engine.errors import ReenactError

    with pytest.raises(ReenactError, match="nothing to resume"):
        train(tiny_config, resume=True, steps=2, progress=False)


def test_yaml_round_trip(tiny_config: TrainConfig, tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(train_config_to_dict(tiny_config)))
    assert load_train_config(path) == tiny_config


def test_a_bare_video_path_is_short_for_its_spec(tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text("videos: [a.mp4, {path: b.mp4, start: 10}]\nval_videos: null\n")
    cfg = load_train_config(path)
    assert [(v.path, v.start) for v in cfg.videos] == [(Path("a.mp4"), 0), (Path("b.mp4"), 10)]
    assert cfg.val_videos == ()


def test_the_shipped_configs_load() -> None:
    """Stage 2 starts from what stage 1 writes into its run folder; nothing in the tree is needed for that."""
    cfg = load_train_config(REPO / "config" / "train_franck.yaml")
    assert cfg.videos[0].stop == 4000 and cfg.val_videos[0].start == 4000
    second = load_train_config(REPO / "config" / "train_franck_generator.yaml")
    assert second.videos == cfg.videos and second.init_weights == cfg.out_dir / "last.pt"
    third = load_train_config(REPO / "config" / "train_franck_headwarp.yaml")
    assert third.init_weights == Path("assets/weights/reenact_full.pt") and (REPO / third.init_weights).is_file()
    for run in (cfg, second, third):  # run folders are git-ignored and lie outside every package
        assert run.out_dir.parts[0] == "runs" and run.cache_dir.parts[0] == "runs"


def test_blend_penalty_without_eye_and_mouth_regions_is_refused(tiny_config: TrainConfig) -> None:
    from reenact.engine.errors import ReenactError

    with pytest.raises(ReenactError, match="region_weight"):
        replace(tiny_config, loss=replace(tiny_config.loss, blend_outside_weight=1.0, region_weight=0.0))


def _generator_l1(model: ReenactModel, pairs: FixedPairs) -> float:
    """L1 of the generator's own RGB (before the blend) on the held-out pairs, at its half resolution."""
    out: dict[str, torch.Tensor] = {}
    hook = model.frame.out.register_forward_hook(lambda mod, inp, o: out.__setitem__("o", o))
    errors = []
    with torch.no_grad():
        for i in range(len(pairs)):
            b = {k: v[None] for k, v in pairs[i].items()}
            model(b["source"], b["grid"], b["kp_source"], b["kp_driving"])
            errors.append(float(generator_l1(out["o"], b["driving"])))
    hook.remove()
    return sum(errors) / len(errors)


def test_generator_stage_trains_the_generator_from_saved_weights(tiny_config: TrainConfig, tmp_path: Path) -> None:
    first = train(replace(tiny_config, steps=10), progress=False)
    saved = load_checkpoint(first.last).build()
    val = FixedPairs(tiny_config, 8)
    before = _generator_l1(saved, val)
    cfg = replace(tiny_config, out_dir=tmp_path / "second", init_weights=first.last, blend_logit_reset=2.5, ema_decay=0.0,
                  loss=replace(tiny_config.loss, generator_weight=1.0, blend_outside_weight=1.0))
    result = train(cfg, steps=15, progress=False)
    tuned = load_checkpoint(result.last).build()
    assert abs(float(tuned.frame.out.bias[3].detach()) - 2.5) < 0.5  # the blend logit was reset, then trained a little
    assert result.step == 15  # a new run: it counts from 0, it does not resume the first one
    assert all("generator" in h and "blend_outside" in h for h in result.history if "loss" in h)
    print(f"generator L1 before {before:.4f} after {_generator_l1(tuned, val):.4f}")
    assert _generator_l1(tuned, val) < 0.8 * before


@pytest.mark.slow
def test_two_process_ddp_on_gloo(tiny_config: TrainConfig, tmp_path: Path) -> None:
    cfg = replace(tiny_config, threads=1, checkpoint_every=3)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(train_config_to_dict(cfg)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--module", "reenact.app.cli",
         "train", "--config", str(path), "--steps", "3", "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(cfg.out_dir / "last.pt")
    assert ckpt.step == 3
    assert ckpt.train_config["batch_size"] == cfg.batch_size


def test_ship_writes_weights_only(tiny_config: TrainConfig, tmp_path: Path) -> None:
    from reenact.engine.backends.torch_backend import TorchBackend
    from reenact.engine.errors import ReenactError
    from reenact.engine.model.checkpoint import Checkpoint, save_checkpoint
    from reenact.training.train import ship

    model = ReenactModel(tiny_config.model)
    optim = torch.optim.AdamW(model.parameters())
    model(torch.rand(1, 3, 64, 64), torch.zeros(1, 64, 64, 2), torch.zeros(1, 170, 2), torch.zeros(1, 170, 2))[0].mean().backward()
    optim.step()
    full = save_checkpoint(Checkpoint(tiny_config.model, model.state_dict(), 7, {}, {"optimizer": optim.state_dict()}),
                           tmp_path / "last.pt")
    shipped = tmp_path / "weights" / "reenact.pt"
    ship(full, shipped)
    back = load_checkpoint(shipped)
    assert back.step == 7 and "optimizer" not in back.extra
    assert shipped.stat().st_size < full.stat().st_size
    assert TorchBackend(shipped).meta.input_size == 64
    with pytest.raises(ReenactError, match="exists"):
        ship(full, shipped)


def test_train_prints_nothing_on_stderr(tiny_config: TrainConfig, tmp_path: Path) -> None:
    # Its loss plot reads numpy's float limits after torch flushed denormals: numpy used to warn four times.
    path = tmp_path / "one_step.yaml"
    path.write_text(yaml.safe_dump(train_config_to_dict(replace(tiny_config, steps=1, val_pairs=2))))
    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "train", "--config", str(path), "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""


def test_a_new_run_refuses_a_folder_holding_an_earlier_one_before_loading_data(tiny_config: TrainConfig,
                                                                               tmp_path: Path) -> None:
    from reenact.engine.errors import ReenactError

    run = tiny_config.out_dir
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"the earlier run's best weights")
    missing = replace(tiny_config.videos[0], path=tmp_path / "not-there.mp4")  # loading data would fail on it
    with pytest.raises(ReenactError) as info:
        train(replace(tiny_config, videos=(missing,)), steps=2, progress=False)
    message = str(info.value)
    assert str(run) in message and "best.pt" in message and "--resume" in message and "--overwrite" in message
    assert (run / "best.pt").read_bytes() == b"the earlier run's best weights"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt"]


def test_the_command_line_refuses_it_in_one_line(tiny_config: TrainConfig, tmp_path: Path) -> None:
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(train_config_to_dict(tiny_config)))
    tiny_config.out_dir.mkdir(parents=True)
    (tiny_config.out_dir / "last.pt").write_bytes(b"an earlier run")
    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "train", "--config", str(path), "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.count("\n") == 1 and "last.pt" in proc.stderr and "--overwrite" in proc.stderr
    assert (tiny_config.out_dir / "last.pt").read_bytes() == b"an earlier run"


def test_overwrite_starts_over_without_the_earlier_runs_files(tiny_config: TrainConfig) -> None:
    run = tiny_config.out_dir
    (run / "samples").mkdir(parents=True)
    for name in ("last.pt", "best.pt", "step_0000900.pt", "samples/step_0000900.png"):
        (run / name).write_bytes(b"earlier")
    (run / "log.jsonl").write_text('{"step": 900, "loss": 1.0}\n')
    (run / "notes.txt").write_text("mine")
    result = train(replace(tiny_config, checkpoint_every=2), steps=2, overwrite=True, progress=False)
    assert result.step == 2
    assert not (run / "step_0000900.pt").exists() and not (run / "samples" / "step_0000900.png").exists()
    assert load_checkpoint(run / "last.pt").step == 2 and load_checkpoint(run / "best.pt").step == 2
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()][0] == 1
    assert (run / "notes.txt").read_text() == "mine"


def _distance_to(student: ReenactModel, teacher: ReenactModel, pairs: FixedPairs) -> float:
    """The distillation loss between two networks on the held-out pairs."""
    from reenact.training.losses import distill_loss

    with torch.no_grad():
        total = 0.0
        for i in range(len(pairs)):
            b = {k: v[None] for k, v in pairs[i].items()}
            layers = [m.frame(b["source"], *m.encoder(b["source"]), b["grid"], b["kp_source"], b["kp_driving"])
                      for m in (student, teacher)]
            total += float(distill_loss(layers[0], layers[1], student.config.size))
    return total / len(pairs)


def test_a_smaller_network_learns_from_its_teacher(tiny_config: TrainConfig, tmp_path: Path) -> None:
    from reenact.engine.errors import ReenactError

    teacher_run = train(replace(tiny_config, steps=10), progress=False)
    teacher = load_checkpoint(teacher_run.last).build()
    small = replace(tiny_config.model, encoder_channels=tuple(max(1, c // 2) for c in tiny_config.model.encoder_channels),
                    frame_channels=max(1, tiny_config.model.frame_channels // 2))
    cfg = replace(tiny_config, out_dir=tmp_path / "student", model=small, teacher=teacher_run.last, ema_decay=0.0,
                  loss=replace(tiny_config.loss, distill_weight=1.0))
    torch.manual_seed(1)
    fresh = ReenactModel(small)
    with torch.no_grad():
        fresh.frame.out.bias[3] = tiny_config.blend_logit_init
    val = FixedPairs(tiny_config, 8)
    before = _distance_to(fresh, teacher, val)
    result = train(cfg, steps=15, progress=False)
    student = load_checkpoint(result.last).build()
    assert student.config == small
    assert all("distill" in h for h in result.history if "loss" in h)
    after = _distance_to(student, teacher, val)
    print(f"distance to the teacher before {before:.4f} after {after:.4f}")
    assert after < 0.7 * before
    with pytest.raises(ReenactError, match="teacher and loss.distill_weight"):
        replace(tiny_config, teacher=teacher_run.last)


def test_a_network_without_the_generator_trains_and_refuses_generator_losses(tiny_config: TrainConfig,
                                                                             tmp_path: Path) -> None:
    from reenact.engine.errors import ReenactError

    flow_only = replace(tiny_config.model, generator=False)
    cfg = replace(tiny_config, out_dir=tmp_path / "flow", model=flow_only)
    result = train(cfg, steps=4, progress=False)
    assert result.step == 4 and not load_checkpoint(result.last).model_config.generator
    with pytest.raises(ReenactError, match="need model.generator"):
        replace(cfg, loss=replace(cfg.loss, generator_weight=1.0))
