"""Pick a backend by name, or the fastest that works with "auto"."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.backends.base import Backend
from engine.errors import ReenactError

log = logging.getLogger(__name__)

KINDS = ("auto", "torch")


def load_backend(kind: str, weights: str | Path) -> Backend:
    """Load a model for `kind` from a checkpoint."""
    if kind not in KINDS:
        raise ReenactError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    from engine.backends.torch_backend import TorchBackend

    return TorchBackend(weights)
