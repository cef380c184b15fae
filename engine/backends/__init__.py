"""Backends that run the networks; the pipeline only ever sees the `Backend` protocol."""

from engine.backends.base import Backend, BackendUnavailable, ModelMeta
from engine.backends.loader import AUTO_ORDER, KINDS, load_backend

__all__ = ["AUTO_ORDER", "KINDS", "Backend", "BackendUnavailable", "ModelMeta", "load_backend"]
