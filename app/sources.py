"""Where driving frames come from: a video file (looped or not) or a camera. One `FrameSource` protocol."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2

from reenact.app.frames import Frame
from reenact.engine.errors import ReenactError, require_file


@runtime_checkable
class FrameSource(Protocol):
    fps: float

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream (or when the device is gone)."""
        ...

    def close(self) -> None: ...


class VideoFileSource:
    """Frames of a video file, RGB. `loop=True` starts again at the end (the app's file-driving mode)."""

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self.path = require_file(path, "driving video")
        if cv2.haveImageReader(str(self.path)):  # ffmpeg would play a photo as a one-frame video
            raise ReenactError("is an image, not a video: the driving input must be a video file", self.path)
        self.loop = loop
        self._cap = cv2.VideoCapture(str(self.path))
        # Phones record portrait clips as landscape pixels plus a display matrix: apply it, as players do.
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or first is None:
            self._cap.release()
            raise ReenactError("not a readable video (corrupt, empty, or not a video format)", self.path)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 25.0
        if not 1.0 <= self.fps <= 240.0:
            self.fps = 25.0
        self.height, self.width = first.shape[:2]  # as displayed, after the rotation
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: int | None = count if count > 0 else None  # what the header says
        self._pending = first
        self._index = 0
        self._offset_ms = 0.0  # added to the stream's times after each loop, so timestamps keep increasing
        self._last_ms = -1.0
        self._closed = False

    def read(self) -> Frame | None:
        if self._closed:
            return None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok:
                if not self.loop:
                    return None
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                self._offset_ms = self._last_ms + 1000.0 / self.fps
                ok, bgr = self._cap.read()
                if not ok:
                    return None
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._index, round(self._timestamp_ms()))
        self._index += 1
        return frame

    def _timestamp_ms(self) -> float:
        """When the frame just read is shown: the stream's own time, so variable-rate clips keep their timing
        (an index over the average fps drifts by seconds). A stream without usable times gets one period more."""
        ms = self._offset_ms + self._cap.get(cv2.CAP_PROP_POS_MSEC)
        if ms <= self._last_ms:
            ms = self._last_ms + 1000.0 / self.fps
        self._last_ms = ms
        return ms

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
            self._closed = True

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CameraSource:
    """A webcam through OpenCV. Timestamps are wall-clock, so smoothing sees real time."""

    def __init__(self, index: int = 0, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        self.index = index
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise ReenactError(f"camera {index} cannot be opened (unplugged, or in use by another program)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low: never queue old frames
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or fps
        self._t0 = time.monotonic()
        self._index = 0
        self._closed = False

    def read(self) -> Frame | None:
        if self._closed:
            return None
        ok, bgr = self._cap.read()
        if not ok:
            return None
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._index, int((time.monotonic() - self._t0) * 1000))
        self._index += 1
        return frame

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
            self._closed = True


def list_cameras(max_index: int = 8) -> list[int]:
    """Indices of the cameras OpenCV can open (probing stops after two misses in a row)."""
    found, misses = [], 0
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(i)
            misses = 0
        else:
            misses += 1
        cap.release()
        if misses >= 2:
            break
    return found
