"""Reconstruction losses that need no pretrained network (no ImageNet weights can be had offline here).

A pyramid L1 (coarse scales reward getting the structure right before the detail) plus SSIM (local contrast and
structure, which L1 alone blurs away). An optional weight map puts more weight on the eyes and the mouth.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from reenact.training.config import LossConfig


@cache
def _gauss(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(a: Tensor, b: Tensor) -> Tensor:
    """Per-pixel SSIM (Wang et al. 2004; Gaussian window 11, σ 1.5) for images in [0, 1], N×C×H×W → N×C×h×w.

    The five local moments are blurred in one separable grouped convolution (the loss is otherwise a large part
    of a CPU training step).
    """
    c = a.shape[1]
    g = _gauss().to(a.device, a.dtype)
    stack = torch.cat([a, b, a * a, b * b, a * b], 1)
    k = stack.shape[1]
    stack = F.conv2d(stack, g.view(1, 1, 1, -1).expand(k, 1, 1, -1), groups=k)
    stack = F.conv2d(stack, g.view(1, 1, -1, 1).expand(k, 1, -1, 1), groups=k)
    mu_a, mu_b, aa, bb, ab = stack.split(c, 1)
    var_a = aa - mu_a**2
    var_b = bb - mu_b**2
    cov = ab - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM per image (N)."""
    return ssim_map(a, b).flatten(1).mean(1)


def _resize(x: Tensor, scale: float) -> Tensor:
    if scale == 1.0:
        return x
    return F.interpolate(x, scale_factor=scale, mode="area")


def generator_l1(out_logits: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """L1 of the generator's own RGB (the FrameNet output head's channels 0–2, at its half resolution, before the
    blend with the warped avatar) against the target brought to that resolution; weighted like the main L1."""
    gen = torch.sigmoid(out_logits[:, :3])
    diff = (gen - F.interpolate(target, size=gen.shape[-2:], mode="area")).abs()
    if weight is None:
        return diff.mean()
    w = F.interpolate(weight, size=gen.shape[-2:], mode="area")
    return (diff * w).mean() / w.mean()


def reconstruction_loss(pred: Tensor, target: Tensor, config: LossConfig, weight: Tensor | None = None) -> dict[str, Tensor]:
    """Weighted pyramid L1 + (1 − SSIM). Returns the total and its parts (for the log)."""
    l1 = pred.new_zeros(())
    for s in config.scales:
        diff = (_resize(pred, s) - _resize(target, s)).abs()
        if weight is not None:
            w = _resize(weight, s)
            l1 = l1 + (diff * w).mean() / w.mean()
        else:
            l1 = l1 + diff.mean()
    l1 = l1 / len(config.scales)
    s = 1.0 - ssim(pred, target).mean()
    total = config.l1_weight * l1 + config.ssim_weight * s
    return {"loss": total, "l1": l1.detach(), "ssim": s.detach()}


def distill_loss(student: tuple[Tensor, ...], teacher: tuple[Tensor, ...], size: int) -> Tensor:
    """L1 between a student's FrameNet layers and its teacher's, each (image, mask, flow, generated) as the
    network returns them: the blended crop, the blend mask, the generated RGB weighted by where the teacher shows
    it (elsewhere it is never seen), and the residual flow in crop pixels (its values are fractions of the crop)."""
    image, mask, flow, generated = student
    t_image, t_mask, t_flow, t_generated = (t.detach() for t in teacher)
    shown = 1.0 - t_mask
    return ((image - t_image).abs().mean() + (mask - t_mask).abs().mean()
            + ((generated - t_generated).abs() * shown).mean() / (shown.mean() + 1e-6)
            + (flow - t_flow).abs().mean() * size / 2)


# The optional terms beside the reconstruction loss, in the order they are added; each has a `<name>_weight` in
# LossConfig and is on when that weight is > 0.
EXTRA_TERMS = ("face_flow", "generator", "blend_outside", "distill")


def active_terms(config: LossConfig) -> tuple[str, ...]:
    return tuple(name for name in EXTRA_TERMS if getattr(config, f"{name}_weight") > 0)


def extra_losses(config: LossConfig, batch: dict[str, Tensor], mask: Tensor, heads: dict[str, Any]
                 ) -> dict[str, Tensor]:
    """The active optional terms (unweighted). `heads` holds the FrameNet head outputs they need, by term name:
    "face_flow" the flow head (channels 0–1, before the tanh), "generator" the output head (RGB logits 0–2),
    "distill" the whole FrameNet's layers, with the teacher's layers for the same batch under "teacher"."""
    terms: dict[str, Tensor] = {}
    for name in active_terms(config):
        if name == "face_flow":
            flow = torch.tanh(heads[name][:, :2])
            face = F.interpolate(batch["face"], size=flow.shape[-2:], mode="area")
            terms[name] = (flow.abs() * face).sum() / (2 * face.sum() + 1e-6)
        elif name == "generator":
            terms[name] = generator_l1(heads[name], batch["driving"], batch["weight"])
        elif name == "distill":
            terms[name] = distill_loss(heads[name], heads["teacher"], batch["source"].shape[-1])
        else:  # blend_outside: the weight map is > 1 over the eyes and the mouth
            outside = (batch["weight"] <= 1.0).to(mask.dtype)
            terms[name] = ((1 - mask) * outside).sum() / (outside.sum() + 1e-6)
    return terms
