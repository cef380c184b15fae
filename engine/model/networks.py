"""Network definitions.

Split like LivePortrait's appearance encoder / generator: the avatar is encoded once into multi-scale features;
the per-frame FrameNet gets those features, the analytic TPS grid and the landmarks, and predicts what the warp
gets wrong: a residual flow, occlusion masks, and new content (mouth interior, disoccluded eyes, background).
Its output starts as the warp (the blend mask is initialised towards the warped avatar), so training only ever
improves on the analytic baseline. Sized for real time on two CPU cores at 256×256. Without its generator branch
(ModelConfig.generator false) it predicts the residual flow alone: what the shipped weights keep, since their
trained blend never showed the new content.

Tensor conventions (also the ONNX interface): images are N×3×H×W RGB in [0, 1]; grids are N×H×W×2 in [-1, 1]
(grid_sample, align_corners=False); landmarks are N×K×2 in the same normalised crop coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reenact.engine.config import ModelConfig
from reenact.engine.graphs import ENCODER_OUTPUTS, FRAME_INPUTS, FRAME_OUTPUTS
from reenact.engine.landmarks import WARP_SUBSET

__all__ = ["ENCODER_OUTPUTS", "FRAME_INPUTS", "FRAME_OUTPUTS", "FlowGraph", "FrameGraph", "FrameNet", "ReenactModel",
           "SourceEncoder", "compose_crop", "frame_graph", "identity_grid", "num_keypoints"]


def num_keypoints(config: ModelConfig) -> int:
    return config.keypoints or len(WARP_SUBSET)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class _Res(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, 1, 1)
        self.b = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.b(F.leaky_relu(self.a(x), 0.2))


class SourceEncoder(nn.Module):
    """Avatar crop → features at 1/2, 1/4 and 1/8 resolution. Runs once per avatar."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c1, c2, c3 = config.encoder_channels
        self.s1 = nn.Sequential(_conv(3, c1, 2), _conv(c1, c1))
        self.s2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.s3 = nn.Sequential(_conv(c2, c3, 2), _Res(c3))

    def forward(self, source: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f1 = self.s1(source * 2 - 1)
        f2 = self.s2(f1)
        f3 = self.s3(f2)
        return f1, f2, f3


def _resize_grid(grid: Tensor, size: int) -> Tensor:
    """N×H×W×2 grid → N×size×size×2 by area averaging (the grid is smooth)."""
    g = grid.permute(0, 3, 1, 2)
    g = F.adaptive_avg_pool2d(g, size) if g.shape[-1] > size else F.interpolate(g, size=size, mode="bilinear", align_corners=False)
    return g.permute(0, 2, 3, 1)


def _sample(x: Tensor, grid: Tensor) -> Tensor:
    if torch.onnx.is_in_onnx_export():
        return sample_by_gather(x, grid)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def sample_by_gather(x: Tensor, grid: Tensor) -> Tensor:
    """`F.grid_sample(x, grid)` (bilinear, border padding, align_corners False) written as four gathers of whole
    feature vectors and their weighted sum: the same numbers, in the exported graphs. ONNX Runtime's CPU GridSample
    kernel interpolates channel by channel and took more than half of the frame graph's time (5.3 of 9.4 ms int8);
    a Gather copies each point's channels at once."""
    n, c, h, w = x.shape
    ix = (((grid[..., 0] + 1) * w - 1) / 2).clamp(0, w - 1)  # N×gh×gw, source pixel coordinates
    iy = (((grid[..., 1] + 1) * h - 1) / 2).clamp(0, h - 1)
    x0, y0 = ix.floor(), iy.floor()
    wx, wy = (ix - x0).unsqueeze(-1), (iy - y0).unsqueeze(-1)
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    table = x.flatten(2).transpose(1, 2).reshape(n * h * w, c)  # one row of channels per source pixel
    first = (torch.arange(n, device=x.device) * (h * w)).view(n, 1, 1)

    def at(yy: Tensor, xx: Tensor) -> Tensor:
        return table[first + yy * w + xx]  # N×gh×gw×C

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).permute(0, 3, 1, 2)


def identity_grid(n: int, size: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
    c = (torch.arange(size, device=device, dtype=dtype or torch.float32) * 2 + 1) / size - 1
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx, yy], -1).unsqueeze(0).expand(n, size, size, 2)


class FrameNet(nn.Module):
    """Per-frame network: cached avatar features + TPS grid + landmarks → the layers of the animated crop (and,
    for training, the crop they make of the avatar)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c1, c2, c3 = config.encoder_channels
        ch = config.frame_channels
        k = num_keypoints(config)
        self.expression = nn.Sequential(
            nn.Linear(k * 4, 128), nn.LeakyReLU(0.2, inplace=True), nn.Linear(128, config.expression_dim)
        )
        # Motion refinement at 1/4 and 1/8: residual flow and occlusion.
        self.m64 = nn.Sequential(_conv(c2 + 2, ch), _conv(ch, ch))
        self.down = _conv(ch, ch, 2)
        self.m32 = nn.Sequential(_conv(ch + c3, ch * 2), _Res(ch * 2))
        self.film = nn.Linear(config.expression_dim, ch * 4)
        self.m_up = _conv(ch * 2 + ch, ch)
        self.generator = config.generator
        # residual flow (2), and for the generator's decoder occlusion at 3 scales
        self.flow = nn.Conv2d(ch, 2 + 3 if self.generator else 2, 3, 1, 1)
        nn.init.normal_(self.flow.weight, std=1e-3)  # near-zero residual flow, but gradients still reach m_up
        nn.init.zeros_(self.flow.bias)
        if self.generator:  # decoder from warped, occlusion-weighted features back to 256×256
            self.d32 = nn.Sequential(_conv(c3 + ch * 2, ch * 2), _Res(ch * 2))
            self.d64 = _conv(ch * 2 + c2, ch)
            self.d128 = _conv(ch + c1, c1 * 2)
            self.out = nn.Conv2d(c1 * 2, 4, 3, 1, 1)  # RGB (3) + blend mask logit (1), at 128, upsampled
            with torch.no_grad():
                self.flow.bias[2:] = 3.0  # occlusion starts "visible"
                self.out.bias[3] = 3.0  # blend starts on the warped avatar

    def forward(
        self, source: Tensor, feat_128: Tensor, feat_64: Tensor, feat_32: Tensor, grid: Tensor,
        kp_source: Tensor, kp_driving: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(image, mask, flow, generated): the animated crop, which training compares with the real frame, and the
        layers it is made of. The app runs `layers` alone (the exported frame graph) and applies them to the
        avatar's own pixels instead (engine.render)."""
        if not self.generator:  # the warped avatar everywhere: a mask of ones, and nothing else generated
            flow, _, _ = self._motion(feat_64, feat_32, grid, kp_source, kp_driving)
            image = _sample(source, grid + _upsample_flow(flow, grid.shape[1]))
            return image, torch.ones_like(image[:, :1]), flow.permute(0, 2, 3, 1), image
        mask, flow, generated, grid_r = self._refine(feat_128, feat_64, feat_32, grid, kp_source, kp_driving)
        return _blend(source, grid_r, mask, generated), mask, flow.permute(0, 2, 3, 1), generated

    def layers(
        self, feat_128: Tensor, feat_64: Tensor, feat_32: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(mask, flow, generated), the per-frame graph (FRAME_INPUTS → FRAME_OUTPUTS): what the full-resolution
        renderer applies to the avatar. flow is the residual on the grid at a quarter of the crop's size
        (N×H/4×W/4×2), generated the network's own RGB (N×3×H×W), mask the warped avatar's share (N×1×H×W).
        Without the crop `forward` blends: nothing per frame shows it, and sampling the avatar crop at full size
        would be one of the graph's costliest GridSamples."""
        if not self.generator:
            raise RuntimeError("a network without its generator branch has no layers but its flow (flow_only)")
        mask, flow, generated, _ = self._refine(feat_128, feat_64, feat_32, grid, kp_source, kp_driving)
        return mask, flow.permute(0, 2, 3, 1), generated

    def flow_only(self, feat_64: Tensor, feat_32: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor
                  ) -> Tensor:
        """The residual flow alone (N×H/4×W/4×2): the frame graph of a model without the generator branch."""
        return self._motion(feat_64, feat_32, grid, kp_source, kp_driving)[0].permute(0, 2, 3, 1)

    def _motion(self, feat_64: Tensor, feat_32: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        """The motion refinement: residual flow (N×2×H/4×W/4), the decoder's occlusion logits (N×3×H/4×W/4; empty
        without the generator) and the expression-modulated 1/8 features the decoder starts from."""
        n = grid.shape[0]
        expr = self.expression(torch.cat([kp_driving - kp_source, kp_driving], -1).flatten(1))
        g64, g32 = _resize_grid(grid, feat_64.shape[-1]), _resize_grid(grid, feat_32.shape[-1])
        delta64 = (g64 - identity_grid(n, g64.shape[1], grid.device, grid.dtype)).permute(0, 3, 1, 2)

        h64 = self.m64(torch.cat([_sample(feat_64, g64), delta64 * 8], 1))
        h32 = self.m32(torch.cat([self.down(h64), _sample(feat_32, g32)], 1))
        gamma, beta = self.film(expr).view(n, -1, 1, 1).chunk(2, 1)
        h32 = h32 * (1 + gamma) + beta
        h = self.m_up(torch.cat([F.interpolate(h32, scale_factor=2.0, mode="bilinear", align_corners=False), h64], 1))
        fo = self.flow(h)
        return torch.tanh(fo[:, :2]) * 0.1, fo[:, 2:], h32  # residual, at most 10% of the crop

    def _refine(
        self, feat_128: Tensor, feat_64: Tensor, feat_32: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """mask, flow (N×2×H/4×W/4), generated, and the refined sampling grid the crop is blended on."""
        size = grid.shape[1]
        flow, occ_logits, h32 = self._motion(feat_64, feat_32, grid, kp_source, kp_driving)
        occ = torch.sigmoid(occ_logits)

        grid_r = grid + _upsample_flow(flow, size)
        g128 = _resize_grid(grid_r, feat_128.shape[-1])
        g64r, g32r = _resize_grid(grid_r, feat_64.shape[-1]), _resize_grid(grid_r, feat_32.shape[-1])
        occ128 = F.interpolate(occ[:, 0:1], size=feat_128.shape[-1], mode="bilinear", align_corners=False)
        occ32 = F.avg_pool2d(occ[:, 2:3], 2)

        d = self.d32(torch.cat([_sample(feat_32, g32r) * occ32, h32], 1))
        d = F.interpolate(d, scale_factor=2.0, mode="bilinear", align_corners=False)
        d = self.d64(torch.cat([d, _sample(feat_64, g64r) * occ[:, 1:2]], 1))
        d = F.interpolate(d, scale_factor=2.0, mode="bilinear", align_corners=False)
        d = self.d128(torch.cat([d, _sample(feat_128, g128) * occ128], 1))
        o = F.interpolate(self.out(d), size=size, mode="bilinear", align_corners=False)
        mask = torch.sigmoid(o[:, 3:4])
        generated = torch.sigmoid(o[:, :3])
        return mask, flow, generated, grid_r


class FrameGraph(nn.Module):
    """`FrameNet.layers` as a module, for the exporter and the PyTorch backend to run as the frame graph. It only
    refers to the FrameNet and is no part of ReenactModel, so the checkpoints' state dict stays as it is."""

    def __init__(self, net: FrameNet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, feat_128: Tensor, feat_64: Tensor, feat_32: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        return self.net.layers(feat_128, feat_64, feat_32, grid, kp_source, kp_driving)


class FlowGraph(nn.Module):
    """`FrameNet.flow_only` as a module: the frame graph of a model without the generator branch."""

    def __init__(self, net: FrameNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, feat_64: Tensor, feat_32: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor) -> Tensor:
        return self.net.flow_only(feat_64, feat_32, grid, kp_source, kp_driving)


def frame_graph(net: FrameNet) -> nn.Module:
    """The module the exporter and the PyTorch backend run as the frame graph: its inputs and outputs are
    `engine.graphs.frame_names(net.generator)`, in that order."""
    return FrameGraph(net) if net.generator else FlowGraph(net)


def _upsample_flow(flow: Tensor, size: int) -> Tensor:
    """N×2×h×w residual flow → N×size×size×2, to add to a sampling grid."""
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False).permute(0, 2, 3, 1)


def _blend(source: Tensor, grid_r: Tensor, mask: Tensor, generated: Tensor) -> Tensor:
    return mask * _sample(source, grid_r) + (1 - mask) * generated


def compose_crop(source: Tensor, grid: Tensor, mask: Tensor | None, flow: Tensor, generated: Tensor | None
                 ) -> Tensor:
    """The crop `FrameNet.forward` makes, from the frame graph's layers and the avatar crop `source`: how the
    export's checks judge a backend's layers in the units training and a viewer see. `flow` is the graph's
    N×H/4×W/4×2 output, made contiguous again so the grid it upsamples to is the one the network itself used.
    Without a mask (a model without the generator branch) the crop is the warped avatar."""
    grid_r = grid + _upsample_flow(flow.permute(0, 3, 1, 2).contiguous(), source.shape[-1])
    if mask is None or generated is None:
        return _sample(source, grid_r)
    return _blend(source, grid_r, mask, generated)


class ReenactModel(nn.Module):
    """Both networks, for training and for export."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.encoder = SourceEncoder(self.config)
        self.frame = FrameNet(self.config)

    def forward(self, source: Tensor, grid: Tensor, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor, Tensor]:
        """(image, mask) of the crop, for training."""
        feats = self.encoder(source)
        return self.frame(source, *feats, grid, kp_source, kp_driving)[:2]
