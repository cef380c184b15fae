"""Where driving frames come from: a video file (looped or not), a camera, or a phone or network camera's stream.
One `FrameSource` protocol."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.app.frames import Frame
from reenact.engine.errors import ReenactError, require_file


@runtime_checkable
class FrameSource(Protocol):
    fps: float

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream (or when the device is gone)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Interruptible(Protocol):
    def interrupt(self) -> None:
        """Make a `read` that is waiting (for a network stream to come back) return None soon; thread-safe."""
        ...


log = logging.getLogger(__name__)


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


STREAM_SCHEMES = ("http", "https", "rtsp", "rtsps")
Notify = Callable[[str, str], None]  # level ("info" | "warning" | "error"), text


def is_stream_url(text: str) -> bool:
    """Whether `text` names a network stream (http(s) MJPEG, RTSP) rather than a camera number or a file."""
    return urlsplit(text.strip()).scheme.lower() in STREAM_SCHEMES


def check_stream_url(text: str) -> str:
    """`text` as a stream URL, or a one-line ReenactError saying what is wrong with it."""
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in STREAM_SCHEMES:
        raise ReenactError(f"{url}: not a stream URL (use http://, https://, rtsp:// or rtsps://, e.g. "
                           "http://192.168.1.20:8080/video)")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ReenactError(f"{url}: the port is not a number") from None
    if not parts.hostname:
        raise ReenactError(f"{url}: no host in the URL (e.g. http://192.168.1.20:8080/video)")
    return url


class StreamSource:
    """A phone or network camera: an MJPEG-over-HTTP or RTSP stream, read through OpenCV's FFmpeg.

    Phone webcam apps (IP Webcam, DroidCam, Iriun…) serve such a stream over Wi-Fi, which drops now and then: a
    failed read does not end the source but reconnects, every `retry_s`, until the stream is back or the source is
    interrupted, saying so through `notify` both when it is lost and when it is back.
    """

    def __init__(self, url: str, notify: Notify | None = None, timeout_s: float = 5.0, retry_s: float = 1.0) -> None:
        self.url = check_stream_url(url)
        self.notify = notify
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self._stop = threading.Event()
        self._cap = self._open()
        if self._cap is None:
            raise ReenactError(f"{self.url}: cannot open the stream (nothing answers there, or it is not an "
                               "MJPEG/HTTP or RTSP video stream; is the phone app running, on the same network?)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if 1.0 <= fps <= 120.0 else 30.0
        self.reconnects = 0
        self._t0 = time.monotonic()
        self._index = 0
        self._closed = False

    def _open(self) -> cv2.VideoCapture | None:
        ms = int(self.timeout_s * 1000)
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _say(self, level: str, text: str) -> None:
        log.info("%s", text)
        if self.notify is not None:
            self.notify(level, text)

    def read(self) -> Frame | None:
        """The next frame; across a drop, the first frame after reconnecting. None once closed or interrupted."""
        if self._closed or self._stop.is_set():
            return None
        assert self._cap is not None
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            bgr = self._reconnect()
            if bgr is None:
                return None
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._index, int((time.monotonic() - self._t0) * 1000))
        self._index += 1
        return frame

    def _reconnect(self) -> NDArray[np.uint8] | None:
        """The first frame after reconnecting (BGR), or None when interrupted."""
        self._say("warning", f"Lost the stream {self.url}; reconnecting…")
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        while not self._stop.wait(self.retry_s):
            cap = self._open()
            if cap is None:
                continue
            ok, bgr = cap.read()
            if ok and bgr is not None:
                self._cap = cap
                self.reconnects += 1
                self._say("info", f"Reconnected to {self.url}.")
                return bgr
            cap.release()
        return None

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Release the stream; call it from the thread that reads, or once that thread has ended."""
        self._stop.set()
        if not self._closed:
            self._closed = True
            if self._cap is not None:
                self._cap.release()
                self._cap = None
