"""A network of First Order Motion Model's size and shape ("FOMM-sized"), for `reenact bench` to compare against.

Same layers and widths as FOMM's vox-256 configuration (Siarohin et al., NeurIPS 2019): a keypoint detector
(hourglass, 10 keypoints with Jacobians, run on the driving frame at 1/4 resolution), a dense-motion network
(hourglass over heatmaps and deformed sources, at 1/4 resolution) and an occlusion-aware generator (encoder, six
residual bottleneck blocks, decoder, at full resolution). What FOMM does per driving frame is run here per frame:
the keypoint detector on the driving image, dense motion, and the whole generator including the source encoding
(FOMM has no cached source features). It takes the avatar crop itself and the motion inputs of reenact's frame
graph (`FOMM_INPUTS`: the grid and the keypoints; FOMM encodes the source every frame, so it reads no cached
features) and returns the layers of a frame graph with a generator branch (`FRAME_OUTPUTS`), so the two are timed
on the same backend with the same motion feeds. Its weights are random: time does not depend on them, and its output is never
looked at.

The driving image is not a frame-graph input; the source warped by the TPS grid stands in for it (same size, same
cost). The source keypoints are cached per avatar as in FOMM's real-time use (avatarify): they come from the first
keypoints of `kp_source`, with identity Jacobians.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from reenact.engine.errors import ReenactError
from reenact.engine.graphs import FRAME_OUTPUTS
from reenact.engine.model.networks import identity_grid

NUM_KP = 10
# The avatar crop (FOMM encodes the source every frame: it has no cached features) and the frame graph's motion
# inputs.
FOMM_INPUTS = ("source", "grid", "kp_source", "kp_driving")
TEMPERATURE = 0.1
KP_VARIANCE = 0.01


class _ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(ch)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return x + self.conv2(F.relu(self.norm2(out)))


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))))


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class _Same(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """FOMM's U-Net: `blocks` down blocks then up blocks with skip connections, widths capped at `max_features`."""

    def __init__(self, expansion: int, in_features: int, blocks: int, max_features: int) -> None:
        super().__init__()

        def width(i: int) -> int:
            return min(max_features, expansion * 2**i)

        self.down = nn.ModuleList(
            [_Down(in_features if i == 0 else width(i), width(i + 1)) for i in range(blocks)]
        )
        self.up = nn.ModuleList(
            [_Up((1 if i == blocks - 1 else 2) * width(i + 1), width(i)) for i in reversed(range(blocks))]
        )
        self.out_features = expansion + in_features

    def forward(self, x: Tensor) -> Tensor:
        skips = [x]
        for block in self.down:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.up:
            out = torch.cat([block(out), skips.pop()], 1)
        return out


class _AntiAliasDown(nn.Module):
    """Gaussian blur then subsampling, as FOMM downsizes its inputs to 1/4."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        k = 2 * round(sigma * 4) + 1
        c = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
        g = torch.exp(-(c**2) / (2 * sigma**2))
        kernel = torch.outer(g, g)
        kernel = (kernel / kernel.sum()).expand(channels, 1, k, k).contiguous()
        self.register_buffer("kernel", kernel)
        self.channels, self.pad, self.step = channels, k // 2, int(round(1 / scale))

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(F.pad(x, (self.pad,) * 4), self.kernel, groups=self.channels)
        return x[:, :, :: self.step, :: self.step]


def _coordinate_grid(h: int, w: int, ref: Tensor) -> Tensor:
    ys = torch.linspace(-1, 1, h, dtype=ref.dtype, device=ref.device)
    xs = torch.linspace(-1, 1, w, dtype=ref.dtype, device=ref.device)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], -1)  # h×w×2


def _inverse_2x2(m: Tensor) -> Tensor:
    """Closed-form inverse of ...×2×2 matrices (ONNX has no general matrix inverse)."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    return torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[..., None, None]


def _kp_to_gaussian(kp: Tensor, h: int, w: int) -> Tensor:
    """N×K×2 keypoints → N×K×h×w Gaussian heatmaps."""
    grid = _coordinate_grid(h, w, kp)[None, None]
    d = grid - kp[:, :, None, None, :]
    return torch.exp(-0.5 * (d**2).sum(-1) / KP_VARIANCE)


class KeypointDetector(nn.Module):
    """FOMM's keypoint detector: hourglass at 1/4 resolution, soft-argmax keypoints and their Jacobians."""

    def __init__(self) -> None:
        super().__init__()
        self.down = _AntiAliasDown(3, 0.25)
        self.predictor = Hourglass(32, 3, 5, 1024)
        self.kp = nn.Conv2d(self.predictor.out_features, NUM_KP, 7)
        self.jacobian = nn.Conv2d(self.predictor.out_features, 4 * NUM_KP, 7)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        feat = self.predictor(self.down(image))
        logits = self.kp(feat)
        n, k, h, w = logits.shape
        heat = F.softmax(logits.flatten(2) / TEMPERATURE, -1).view(n, k, h, w, 1)
        value = (heat * _coordinate_grid(h, w, logits)[None, None]).sum((2, 3))
        jac = self.jacobian(feat).view(n, k, 4, h, w)
        jac = (jac * heat.view(n, k, 1, h, w)).sum((3, 4)).view(n, k, 2, 2)
        return value, jac


class DenseMotion(nn.Module):
    """FOMM's dense-motion network: per-keypoint local affine motions blended by a predicted mask, and occlusion."""

    def __init__(self) -> None:
        super().__init__()
        self.down = _AntiAliasDown(3, 0.25)
        self.hourglass = Hourglass(64, (NUM_KP + 1) * 4, 5, 1024)
        self.mask = nn.Conv2d(self.hourglass.out_features, NUM_KP + 1, 7, padding=3)
        self.occlusion = nn.Conv2d(self.hourglass.out_features, 1, 7, padding=3)

    def forward(
        self, source: Tensor, kp_d: Tensor, jac_d: Tensor, kp_s: Tensor, jac_s: Tensor
    ) -> tuple[Tensor, Tensor]:
        src = self.down(source)
        n, _, h, w = src.shape
        heat = _kp_to_gaussian(kp_d, h, w) - _kp_to_gaussian(kp_s, h, w)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], 1).unsqueeze(2)  # N×(K+1)×1×h×w

        ident = _coordinate_grid(h, w, source)[None, None]  # 1×1×h×w×2
        jac = torch.matmul(jac_s, _inverse_2x2(jac_d))  # N×K×2×2
        rel = ident - kp_d[:, :, None, None, :]
        rel = torch.matmul(jac[:, :, None, None], rel.unsqueeze(-1)).squeeze(-1)
        motions = torch.cat([ident.expand(n, 1, h, w, 2), rel + kp_s[:, :, None, None, :]], 1)  # N×(K+1)×h×w×2

        k1 = NUM_KP + 1
        rep = src.unsqueeze(1).expand(n, k1, 3, h, w).reshape(n * k1, 3, h, w)
        deformed = F.grid_sample(rep, motions.reshape(n * k1, h, w, 2), align_corners=False).view(n, k1, 3, h, w)
        feat = self.hourglass(torch.cat([heat, deformed], 2).view(n, -1, h, w))
        mask = F.softmax(self.mask(feat), 1).unsqueeze(-1)  # N×(K+1)×h×w×1
        deformation = (motions * mask).sum(1)  # N×h×w×2
        return deformation, torch.sigmoid(self.occlusion(feat))


class OcclusionAwareGenerator(nn.Module):
    """FOMM's generator: encode the source, warp its features by dense motion, mask occlusion, decode."""

    def __init__(self) -> None:
        super().__init__()
        self.first = _Same(3, 64, 7)
        self.down = nn.Sequential(_Down(64, 128), _Down(128, 256))
        self.bottleneck = nn.Sequential(*[_ResBlock(256) for _ in range(6)])
        self.up = nn.Sequential(_Up(256, 128), _Up(128, 64))
        self.final = nn.Conv2d(64, 3, 7, padding=3)

    def forward(self, source: Tensor, deformation: Tensor, occlusion: Tensor) -> Tensor:
        out = self.down(self.first(source))
        h, w = out.shape[-2:]
        grid = F.interpolate(deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=False)
        out = F.grid_sample(out, grid.permute(0, 2, 3, 1), align_corners=False)
        out = out * F.interpolate(occlusion, size=(h, w), mode="bilinear", align_corners=False)
        out = self.up(self.bottleneck(out))
        return torch.sigmoid(self.final(out))


class FommSizedFrameNet(nn.Module):
    """FOMM's per-frame work behind the frame graph's interface: its inputs (by name and shape) and the avatar
    crop, its outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.kp_detector = KeypointDetector()
        self.dense_motion = DenseMotion()
        self.generator = OcclusionAwareGenerator()

    def forward(self, source: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        driving = F.grid_sample(source, grid, align_corners=False)
        kp_d, jac_d = self.kp_detector(driving)
        kp_s = kp_source[:, :NUM_KP]
        jac_s = torch.eye(2, dtype=source.dtype, device=source.device).expand(kp_s.shape[0], NUM_KP, 2, 2)
        deformation, occlusion = self.dense_motion(source, kp_d, jac_d, kp_s, jac_s)
        image = self.generator(source, deformation, occlusion)
        mask = F.interpolate(occlusion, size=source.shape[-2:], mode="bilinear", align_corners=False)
        quarter = source.shape[-1] // 4  # FrameNet's flow layer: the field's change at a quarter of the size
        field = F.interpolate(deformation.permute(0, 3, 1, 2), size=quarter, mode="bilinear", align_corners=False)
        flow = field.permute(0, 2, 3, 1) - identity_grid(source.shape[0], quarter, source.device, source.dtype)
        return mask, flow, image


def build_fomm_sized(seed: int = 0) -> FommSizedFrameNet:
    """The FOMM-sized network in eval mode with PyTorch's default initialisation from a fixed seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FommSizedFrameNet()
    return net.eval()


def parameter_counts(net: FommSizedFrameNet) -> dict[str, int]:
    parts = {"kp_detector": net.kp_detector, "dense_motion": net.dense_motion, "generator": net.generator}
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    counts["total"] = sum(counts.values())
    return counts


RUNTIMES = {"torch-cpu": "torch", "onnxruntime-cpu": "onnxruntime"}  # backend name → runtime the network runs on
DESCRIPTION = "FOMM-sized (keypoint detector + dense motion + generator, vox-256 widths)"


def fomm_sized_runner(kind: str, workdir: Path, feeds: dict[str, NDArray[np.float32]]) -> Callable[[], object]:
    """One FOMM-sized step on `kind` ("torch" or "onnxruntime", CPU) with `feeds` (FOMM_INPUTS: the frame
    graph's and the avatar crop), as a callable to time; ReenactError for other runtimes. The ONNX file is
    exported once into `workdir`."""
    from reenact.engine.runtime import configure_torch

    if kind not in ("torch", "onnxruntime"):
        raise ReenactError(f"the FOMM-sized network is timed on CPU torch and onnxruntime only, not on {kind}")
    configure_torch()
    net = build_fomm_sized()  # built per runtime, not kept: 60 M parameters would sit in every pipeline run's RSS
    names = list(FOMM_INPUTS)
    if kind == "torch":
        tensors = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names]

        def run_torch() -> object:
            with torch.inference_mode():
                return net(*tensors)

        return run_torch
    import onnxruntime as ort

    from reenact.engine.backends.onnxruntime_backend import session_options

    path = workdir / "fomm_sized.onnx"
    if not path.is_file():
        args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names)
        with warnings.catch_warnings():  # the TorchScript exporter's notes on shape inference
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, str(path), input_names=names, output_names=list(FRAME_OUTPUTS),
                              opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    used = {i.name for i in session.get_inputs()}  # the exporter drops inputs the graph never reads
    ort_feeds = {n: np.ascontiguousarray(feeds[n]) for n in names if n in used}
    return lambda: session.run(None, ort_feeds)
