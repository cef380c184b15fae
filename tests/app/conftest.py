"""Qt for the app tests (offscreen, OpenCV's Qt5 environment undone), private settings, a recording virtual camera."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reenact.app.window import prepare_qt_environment  # noqa: E402

prepare_qt_environment()  # before pytest-qt creates the QApplication


@pytest.fixture(autouse=True)
def app_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder (settings.ini, avatars/) for every test here: none reads or writes real settings."""
    folder = tmp_path / "reenact-data"
    monkeypatch.setenv("REENACT_DATA_DIR", str(folder))
    return folder


# A pyvirtualcam backend that records what it is sent, registered through pyvirtualcam's own API.
NAME = "reenact-test-recorder"
MISSING = "reenact-test-missing"


class RecordingCamera:
    instances: list[RecordingCamera] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.frames = 0
        self.last: np.ndarray | None = None
        self.bad_frames: list[str] = []
        self.closed = False
        RecordingCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        if frame.ndim != 1 or frame.dtype != np.uint8 or not frame.flags.c_contiguous:
            self.bad_frames.append(f"{frame.shape} {frame.dtype}")
        if frame.size != self.width * self.height * 3:
            self.bad_frames.append(f"size {frame.size}")
        self.last = frame.reshape(self.height, self.width, 3).copy()
        self.frames += 1

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return "Test Camera"

    def native_fourcc(self) -> int | None:
        return None


class MissingDriver:
    """What pyvirtualcam's Linux backend does without v4l2loopback: refuse in the constructor."""

    def __init__(self, **kw: Any) -> None:
        raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe v4l2loopback'?")


@pytest.fixture
def vcam() -> type[RecordingCamera]:
    """Registers the recording backend (as NAME) and the no-driver backend (as MISSING); returns the class."""
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    pyvirtualcam.register_backend(NAME, RecordingCamera)
    pyvirtualcam.register_backend(MISSING, MissingDriver)
    RecordingCamera.instances.clear()
    return RecordingCamera
