"""Backends that run the networks; the pipeline only ever sees the `Backend` protocol."""

from reenact.engine.backends.base import Backend, BackendUnavailable, ModelMeta
from reenact.engine.backends.loader import AUTO_ORDER, KINDS, load_backend

__all__ = ["AUTO_ORDER", "KINDS", "Backend", "BackendUnavailable", "ModelMeta", "load_backend"]
