"""Backends that run the networks; the pipeline only ever sees the `Backend` protocol.

The read side of the model artifacts: what a path holds (artifacts), the one table of formats and backends
(formats), the checks every backend shares (facade), and the loader. Writing artifacts is reenact.export's job.
"""

from reenact.engine.backends.base import Backend, BackendUnavailable, ModelMeta
from reenact.engine.backends.formats import AUTO_ORDER, KINDS
from reenact.engine.backends.loader import load_backend

__all__ = ["AUTO_ORDER", "KINDS", "Backend", "BackendUnavailable", "ModelMeta", "load_backend"]
