"""The networks: a once-per-avatar SourceEncoder and a small per-frame FrameNet on top of the analytic warp."""

from reenact.engine.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from reenact.engine.model.networks import FrameNet, ReenactModel, SourceEncoder

__all__ = ["Checkpoint", "FrameNet", "ReenactModel", "SourceEncoder", "load_checkpoint", "save_checkpoint"]
