"""Backends that run the networks; the pipeline only ever sees the `Backend` protocol."""

from engine.backends.base import Backend, ModelMeta
from engine.backends.loader import load_backend

__all__ = ["Backend", "ModelMeta", "load_backend"]
