"""The training loop: AdamW on the pair stream, checkpoints that survive a kill, pictures of progress.

One code path for a CPU, one CUDA GPU, and several processes under `torchrun` (DDP; gloo on CPU, NCCL on GPUs).
Everything a resumed run needs is in `<out_dir>/last.pt` (weights, optimizer, step, history); the stream of
pairs is a function of the step, so a resumed run continues where the killed one stopped.
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from reenact.engine.atomic import atomic_path, check_output_path
from reenact.engine.errors import ReenactError
from reenact.engine.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from reenact.engine.model.networks import ReenactModel
from reenact.engine.runtime import flush_denormals
from reenact.training.config import TrainConfig, train_config_to_dict
from reenact.training.dataset import FixedPairs, PairDataset
from reenact.training.losses import active_terms, extra_losses, reconstruction_loss


@dataclass(frozen=True, slots=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True, slots=True)
class TrainResult:
    step: int
    last: Path
    history: list[dict[str, float]]


def dist_env() -> DistEnv:
    """Rank and world size as `torchrun` sets them; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def _worker_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _lr(cfg: TrainConfig, step: int) -> float:
    lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    return lr * 0.1 ** sum(step >= s for s in cfg.lr_decay_at)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def warp_only(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The analytic baseline: the source sampled at the TPS grid (what the model starts from)."""
    return F.grid_sample(batch["source"], batch["grid"], mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def validate(model: torch.nn.Module, pairs: FixedPairs, device: torch.device, batch_size: int = 8) -> dict[str, float]:
    """Held-out L1 of the model and of the warp alone on fixed pairs."""
    was_training = model.training
    model.eval()
    sums = {"val_l1_model": 0.0, "val_l1_warp": 0.0}
    n = 0
    for batch in DataLoader(pairs, batch_size=batch_size):
        b = _to(batch, device)
        pred, _ = model(b["source"], b["grid"], b["kp_source"], b["kp_driving"])
        k = b["source"].shape[0]
        sums["val_l1_model"] += float((pred - b["driving"]).abs().mean()) * k
        sums["val_l1_warp"] += float((warp_only(b) - b["driving"]).abs().mean()) * k
        n += k
    model.train(was_training)
    return {k: v / max(1, n) for k, v in sums.items()}


@torch.no_grad()
def sample_grid(model: torch.nn.Module, pairs: FixedPairs, device: torch.device, path: Path, count: int = 4) -> None:
    """A PNG: one row per pair — source, driving (real), warp only, model."""
    import cv2

    if len(pairs) == 0:
        return
    was_training = model.training
    model.eval()
    batch = _to(next(iter(DataLoader(pairs, batch_size=min(count, len(pairs))))), device)
    pred, _ = model(batch["source"], batch["grid"], batch["kp_source"], batch["kp_driving"])
    model.train(was_training)
    cols = [batch["source"], batch["driving"], warp_only(batch), pred]
    rows = [torch.cat([c[i] for c in cols], dim=2) for i in range(pred.shape[0])]
    img = (torch.cat(rows, dim=1).clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    with atomic_path(path, suffix=".png") as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Loss curve PNG: training loss (smoothed) and held-out L1 of model vs warp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    val = [(h["step"], h["val_l1_model"], h["val_l1_warp"]) for h in history if "val_l1_model" in h]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        s, loss = np.array(train).T
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        axes[0].plot(s, loss, alpha=0.3, color="C0")
        axes[0].plot(s[k - 1 :], smooth, color="C0")
    axes[0].set(title="training loss (L1 pyramid + SSIM)", xlabel="step")
    if val:
        s, m, w = np.array(val).T
        axes[1].plot(s, m, "o-", label="model")
        axes[1].plot(s, w, "--", label="warp only")
        axes[1].legend()
    axes[1].set(title="held-out L1", xlabel="step")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def _keep_output(store: dict[str, Any], name: str, module: torch.nn.Module, inputs: object,
                 output: Any) -> None:
    store[name] = output


def _teacher(cfg: TrainConfig, device: torch.device) -> torch.nn.Module | None:
    """The trained network a smaller one learns from (frozen), or None."""
    if cfg.teacher is None:
        return None
    teacher = load_checkpoint(cfg.teacher).build().to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in _unwrap(model).state_dict().items()}


def _prune(out_dir: Path, keep: int) -> None:
    steps = sorted(out_dir.glob("step_*.pt"))
    for old in steps[: max(0, len(steps) - keep)]:
        old.unlink(missing_ok=True)


EARLIER_RUN = ("last.pt", "best.pt", "step_*.pt")  # checkpoints: a new run among them would mix two runs
RUN_OUTPUTS = (*EARLIER_RUN, "log.jsonl", "samples/step_*.png")  # what starting over clears (log.jsonl is appended)


def check_run_folder(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run on an earlier run's checkpoints, before any data is loaded."""
    if resume and overwrite:
        raise ReenactError("--resume continues the earlier run and --overwrite starts over: pass one of them", out_dir)
    if resume or overwrite:
        return
    found = sorted({p.name for pattern in EARLIER_RUN for p in out_dir.glob(pattern)})
    if found:
        names = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ReenactError(f"holds an earlier run ({names}): pass --resume to continue it or --overwrite to start "
                           "over (its checkpoints, log and samples are deleted)", out_dir)


def _clear_earlier_run(out_dir: Path) -> None:
    for pattern in RUN_OUTPUTS:
        for path in out_dir.glob(pattern):
            path.unlink(missing_ok=True)


def train(cfg: TrainConfig, *, resume: bool = False, steps: int | None = None, progress: bool = True,
          overwrite: bool = False) -> TrainResult:
    """Train until `steps` (default cfg.steps) or until SIGTERM/SIGINT, saving `last.pt` on the way out.

    A run folder holding an earlier run is refused unless `resume` (continue it) or `overwrite` (start over).
    """
    from tqdm import tqdm

    check_run_folder(cfg.out_dir, resume, overwrite)
    env = dist_env()
    total = cfg.steps if steps is None else steps
    if env.world > 1:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        flush_denormals()
        torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)

    out_dir = cfg.out_dir
    last_path = out_dir / "last.pt"
    model = ReenactModel(cfg.model)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, history, best = 0, [], math.inf
    ema_state: dict[str, torch.Tensor] | None = None
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path)
        if ckpt.model_config != cfg.model:
            raise ReenactError("checkpoint was trained with a different model shape than the config", last_path)
        model.load_state_dict(ckpt.state_dict)
        if "optimizer" in ckpt.extra:
            optim.load_state_dict(ckpt.extra["optimizer"])
        step = ckpt.step
        history = list(ckpt.extra.get("history", []))
        best = float(ckpt.extra.get("best_val", math.inf))
        ema_state = ckpt.extra.get("ema")
    elif resume:
        raise ReenactError("nothing to resume: no last.pt", out_dir)
    elif cfg.init_weights is not None:
        model.load_state_dict(load_checkpoint(cfg.init_weights).state_dict)
        if cfg.blend_logit_reset is not None and cfg.model.generator:
            with torch.no_grad():
                model.frame.out.bias[3] = cfg.blend_logit_reset
    elif cfg.blend_logit_init is not None and cfg.model.generator:
        with torch.no_grad():
            model.frame.out.bias[3] = cfg.blend_logit_init
    model.to(device).train()
    # The averaged copy: validated, kept as best.pt and step_*.pt; last.pt holds both (raw weights to resume).
    ema = ReenactModel(cfg.model).to(device).eval() if cfg.ema_decay > 0 else model
    if ema is not model:
        ema.load_state_dict(ema_state if ema_state is not None else model.state_dict())
        for p in ema.parameters():
            p.requires_grad_(False)
    net: torch.nn.Module = model
    if env.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    teacher = _teacher(cfg, device)
    data = PairDataset(cfg, length=max(1, total) * cfg.batch_size * env.world)
    sampler = range(step * cfg.batch_size * env.world + env.rank, total * cfg.batch_size * env.world, env.world)
    loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        worker_init_fn=_worker_init, persistent_workers=False, drop_last=True,
                        pin_memory=device.type == "cuda", prefetch_factor=4 if cfg.workers else None)
    val = FixedPairs(cfg, cfg.val_pairs) if env.main and cfg.val_videos else None

    if env.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:  # only now the data has loaded: a config mistake does not cost the earlier run
            _clear_earlier_run(out_dir)
        (out_dir / "config.json").write_text(json.dumps(train_config_to_dict(cfg), indent=2))

    stop = {"flag": False}

    def _stop(signum: int, frame: Any) -> None:
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)} if env.main else {}

    def save(final: bool = False) -> None:
        if not env.main:
            return
        extra = {"optimizer": optim.state_dict(), "history": history, "best_val": best}
        if ema is not model:
            extra["ema"] = _weights(ema)
        save_checkpoint(Checkpoint(cfg.model, _weights(model), step, train_config_to_dict(cfg), extra), last_path)
        if not final:
            save_checkpoint(Checkpoint(cfg.model, _weights(ema), step, train_config_to_dict(cfg)),
                            out_dir / f"step_{step:07d}.pt")
            _prune(out_dir, cfg.keep_checkpoints)
        plot_history(history, out_dir / "loss.png")

    # The face-flow penalty, the generator loss and the distillation read outputs the model does not return through
    # forward hooks (the network's outputs are fixed by the ONNX interface): the flow head, the output head and all
    # of FrameNet's layers, kept under the term's name.
    captured: dict[str, Any] = {}
    terms = active_terms(cfg.loss)
    frame_net = _unwrap(net).frame
    heads = {"face_flow": frame_net.flow, **({"generator": frame_net.out} if frame_net.generator else {}),
             "distill": frame_net}
    hooks = [heads[name].register_forward_hook(functools.partial(_keep_output, captured, name))
             for name in terms if name in heads]

    bar = tqdm(total=total, initial=step, disable=not (progress and env.main), unit="step", dynamic_ncols=True)
    log_file = (out_dir / "log.jsonl").open("a") if env.main else None

    def record(rec: dict[str, float]) -> None:
        history.append(rec)
        if log_file is not None:
            log_file.write(json.dumps(rec) + "\n")
            log_file.flush()

    t_last, s_last, acc_n = time.perf_counter(), step, 0
    acc = dict.fromkeys(("loss", "l1", "ssim", *terms), 0.0)
    try:
        for batch in loader:
            if step >= total or stop["flag"]:
                break
            for g in optim.param_groups:
                g["lr"] = _lr(cfg, step)
            b = _to(batch, device)
            pred, mask = net(b["source"], b["grid"], b["kp_source"], b["kp_driving"])
            parts = reconstruction_loss(pred, b["driving"], cfg.loss, b["weight"])
            if teacher is not None:
                with torch.no_grad():
                    captured["teacher"] = teacher.frame(b["source"], *teacher.encoder(b["source"]), b["grid"],
                                                        b["kp_source"], b["kp_driving"])
            for name, value in extra_losses(cfg.loss, b, mask, captured).items():
                parts[name] = value
                parts["loss"] = parts["loss"] + getattr(cfg.loss, f"{name}_weight") * value
            captured.clear()
            optim.zero_grad(set_to_none=True)
            parts["loss"].backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optim.step()
            if ema is not model:
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                        pe.lerp_(pm, 1.0 - cfg.ema_decay)
            step += 1
            for k in acc:
                acc[k] += float(parts[k].detach())
            acc_n += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == total:
                now = time.perf_counter()
                rec = {"step": step, **{k: v / acc_n for k, v in acc.items()}, "lr": _lr(cfg, step - 1),
                       "steps_per_s": (step - s_last) / max(1e-9, now - t_last)}
                t_last, s_last, acc, acc_n = now, step, dict.fromkeys(acc, 0.0), 0
                if env.main:
                    record(rec)
                    bar.set_postfix(loss=f"{rec['loss']:.4f}", sps=f"{rec['steps_per_s']:.2f}")
            if env.main and val is not None and (step % cfg.checkpoint_every == 0 or step == total):
                v = validate(ema, val, device)
                record({"step": step, **v})
                best_now = v["val_l1_model"] < best
                if best_now:
                    best = v["val_l1_model"]
                    save_checkpoint(Checkpoint(cfg.model, _weights(ema), step, train_config_to_dict(cfg),
                                               {"val": v}), out_dir / "best.pt")
                bar.write(f"step {step}: held-out L1 model {v['val_l1_model']:.4f} warp {v['val_l1_warp']:.4f}"
                          + (" (best)" if best_now else ""))
            if step % cfg.checkpoint_every == 0:
                save()
            if env.main and val is not None and step % cfg.sample_every == 0:
                sample_grid(ema, val, device, out_dir / "samples" / f"step_{step:07d}.png")
    finally:
        bar.close()
        for h in hooks:
            h.remove()
        save(final=True)
        if log_file is not None:
            log_file.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if env.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    return TrainResult(step, last_path, history)


def ship(src: Path, dst: Path, overwrite: bool = False, flow_only: bool = False) -> Checkpoint:
    """Copy a checkpoint as weights only (no optimizer state, no history): what goes into assets/. `flow_only`
    ships it without its generator branch (Checkpoint.without_generator)."""
    check_output_path(dst, overwrite)
    ckpt = load_checkpoint(src)
    if flow_only:
        ckpt = ckpt.without_generator()
    val = ckpt.extra.get("val")
    slim = Checkpoint(ckpt.model_config, ckpt.state_dict, ckpt.step, ckpt.train_config, {"val": val} if val else {})
    save_checkpoint(slim, dst)
    return slim
