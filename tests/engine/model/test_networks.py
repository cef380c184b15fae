import torch

from reenact.engine.config import ModelConfig
from reenact.engine.model.networks import (
    ENCODER_OUTPUTS,
    FRAME_INPUTS,
    FRAME_OUTPUTS,
    FrameGraph,
    ReenactModel,
    compose_crop,
    identity_grid,
    num_keypoints,
    sample_by_gather,
)


def _inputs(n: int, size: int, k: int):
    torch.manual_seed(0)
    source = torch.rand(n, 3, size, size)
    grid = identity_grid(n, size) + 0.02 * torch.randn(n, size, size, 2)
    kp = torch.rand(n, k, 2) * 2 - 1
    return source, grid, kp, kp + 0.01 * torch.randn_like(kp)


def test_default_model_shapes_and_size():
    cfg = ModelConfig()
    model = ReenactModel(cfg).eval()
    k = num_keypoints(cfg)
    source, grid, kp_s, kp_d = _inputs(1, cfg.size, k)
    with torch.no_grad():
        feats = model.encoder(source)
        image, mask, flow, generated = model.frame(source, *feats, grid, kp_s, kp_d)
        layers = FrameGraph(model.frame)(*feats, grid, kp_s, kp_d)
    assert len(feats) == len(ENCODER_OUTPUTS)
    assert [f.shape[-1] for f in feats] == [128, 64, 32]
    assert image.shape == (1, 3, 256, 256) and mask.shape == (1, 1, 256, 256)
    assert flow.shape == (1, 64, 64, 2) and generated.shape == (1, 3, 256, 256)
    # the frame graph is training's network without the crop: the same layers, to the bit
    assert len(layers) == len(FRAME_OUTPUTS)
    for name, a, b in zip(FRAME_OUTPUTS, layers, (mask, flow, generated), strict=True):
        assert torch.equal(a, b), name
    # the image is made of its layers: the full-resolution renderer relies on it, and the export's checks rebuild it
    flow256 = torch.nn.functional.interpolate(flow.permute(0, 3, 1, 2), size=256, mode="bilinear",
                                              align_corners=False).permute(0, 2, 3, 1)
    warped = torch.nn.functional.grid_sample(source, grid + flow256, padding_mode="border", align_corners=False)
    assert torch.allclose(image, mask * warped + (1 - mask) * generated, atol=1e-5)
    assert torch.allclose(compose_crop(source, grid, *layers), image, atol=1e-6)
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert len(FRAME_INPUTS) == 6 and "source" not in FRAME_INPUTS  # the avatar crop is encoded once, not fed
    frame_params = sum(p.numel() for p in model.frame.parameters())
    assert frame_params < 1_000_000, "the per-frame net must stay small enough for real time on a CPU"


def test_the_frame_graph_reads_the_crop_size_from_the_grid():
    cfg = ModelConfig(size=64, encoder_channels=(4, 8, 8), frame_channels=8, expression_dim=4)
    model = ReenactModel(cfg).eval()
    source, grid, kp_s, kp_d = _inputs(1, cfg.size, num_keypoints(cfg))
    with torch.no_grad():
        mask, flow, generated = model.frame.layers(*model.encoder(source), grid, kp_s, kp_d)
    assert mask.shape == (1, 1, 64, 64) and flow.shape == (1, 16, 16, 2) and generated.shape == (1, 3, 64, 64)


def test_untrained_model_starts_as_the_analytic_warp():
    model = ReenactModel().eval()
    source, grid, kp_s, kp_d = _inputs(1, 256, num_keypoints(model.config))
    with torch.no_grad():
        image, _ = model(source, grid, kp_s, kp_d)
    warped = torch.nn.functional.grid_sample(source, grid, padding_mode="border", align_corners=False)
    assert (image - warped).abs().mean() < 0.05


def test_gradients_reach_every_parameter():
    cfg = ModelConfig(size=64, encoder_channels=(4, 8, 8), frame_channels=8, expression_dim=4)
    model = ReenactModel(cfg)
    source, grid, kp_s, kp_d = _inputs(2, cfg.size, num_keypoints(cfg))
    target = torch.rand_like(source)
    image, mask = model(source, grid, kp_s, kp_d)
    ((image - target).abs().mean() + mask.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert not missing, f"no gradient for {missing}"


def test_without_its_generator_a_network_keeps_its_flow_exactly():
    from reenact.engine.backends.base import ModelMeta
    from reenact.engine.graphs import FLOW_FRAME_INPUTS, FLOW_FRAME_OUTPUTS
    from reenact.engine.model.checkpoint import Checkpoint
    from reenact.engine.model.networks import frame_graph

    cfg = ModelConfig(size=64, encoder_channels=(4, 8, 8), frame_channels=8, expression_dim=4)
    torch.manual_seed(3)
    full = ReenactModel(cfg).eval()
    with torch.no_grad():  # a flow that is not near zero, as after training
        full.frame.flow.weight.normal_(0, 0.2)
    flow_only = Checkpoint(cfg, full.state_dict(), step=7).without_generator().build()
    assert not flow_only.config.generator and not hasattr(flow_only.frame, "out")
    assert sum(p.numel() for p in flow_only.parameters()) < sum(p.numel() for p in full.parameters())
    source, grid, kp_s, kp_d = _inputs(2, cfg.size, num_keypoints(cfg))
    with torch.no_grad():
        f128, f64, f32 = full.encoder(source)
        _, flow, _ = frame_graph(full.frame)(f128, f64, f32, grid, kp_s, kp_d)
        assert flow.abs().max() > 1e-3
        alone = frame_graph(flow_only.frame)(*flow_only.encoder(source)[1:], grid, kp_s, kp_d)
        image, mask, flow_t, _ = flow_only.frame(source, f128, f64, f32, grid, kp_s, kp_d)
    assert torch.equal(alone, flow) and torch.equal(flow_t, flow)
    # for training it is the avatar warped by the refined grid, everywhere
    assert torch.equal(mask, torch.ones_like(mask))
    assert torch.allclose(image, compose_crop(source, grid, None, flow, None), atol=1e-6)
    meta = ModelMeta.from_model_config(flow_only.config)
    assert (meta.frame_inputs, meta.frame_outputs) == (FLOW_FRAME_INPUTS, FLOW_FRAME_OUTPUTS)
    assert "feat_128" not in FLOW_FRAME_INPUTS


def test_the_exported_sampling_by_gathers_is_grid_sample() -> None:
    """The graphs sample features by gathering whole feature vectors (ONNX Runtime's GridSample kernel is slow);
    the numbers are grid_sample's (bilinear, border padding, align_corners False), also beyond the border and for
    grids of another size than the features."""
    import torch.nn.functional as F

    torch.manual_seed(3)
    for shape, grid_hw in (((1, 64, 64, 64), (64, 64)), ((2, 8, 32, 32), (16, 40)), ((1, 3, 7, 9), (11, 5))):
        x = torch.randn(shape)
        grid = torch.rand(shape[0], *grid_hw, 2) * 2.6 - 1.3  # a tenth of it outside [-1, 1] on each side
        expected = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        assert torch.allclose(sample_by_gather(x, grid), expected, atol=1e-5)
