"""The per-frame engine: face tracking, motion transfer, warping, the networks and their backends."""

from reenact.engine.errors import ReenactError

__all__ = ["ReenactError"]
