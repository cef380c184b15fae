"""A pyvirtualcam backend that goes nowhere, so that the bench's output stage is the app's real virtual camera sink.

Registered through pyvirtualcam's own API (as the tests' recording camera is), it is opened by `VirtualCameraSink`
like any driver; `send` copies the frame into a buffer of its own, the least a real driver does with it (the
format conversion a real driver makes, natively inside pyvirtualcam, is not counted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAME = "reenact-bench-null"


class NullCamera:
    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self._fourcc = fourcc
        self._buffer = np.empty(width * height * 3, np.uint8)
        self.frames = 0

    def send(self, frame: np.ndarray) -> None:
        np.copyto(self._buffer[: frame.size], frame)
        self.frames += 1

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "null (bench)"

    def native_fourcc(self) -> int | None:
        return self._fourcc


def register() -> str:
    """Make the null camera known to pyvirtualcam (idempotent); its backend name."""
    import pyvirtualcam

    pyvirtualcam.register_backend(NAME, NullCamera)
    return NAME
