"""Driving frames in: which source to open, and a thread that reads it at its own pace.

The capture thread never waits for the pipeline. Into a newest-only slot (the app, the bench) it replaces a frame
the pipeline has not taken yet, so stale frames are dropped at the input and latency stays one frame deep; into a
Handoff (the demo, an offline job) it waits instead, so every frame is processed in order.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reenact.app.frames import Frame
from reenact.app.sources import (
    CameraSource,
    FrameSource,
    Interruptible,
    Notify,
    StreamSource,
    VideoFileSource,
)
from reenact.engine.errors import ReenactError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Captured:
    frame: Frame
    captured_at: float  # time.perf_counter() when the frame was read
    capture_ms: float  # time spent reading and decoding it


class CapturedInput(Protocol):
    """Where the capture thread puts frames: a LatestSlot (drops stale frames) or a Handoff (waits)."""

    def put(self, value: Captured) -> object: ...


class CaptureThread(threading.Thread):
    """Reads a source into `slot`. Files are paced at their fps when `paced` (a camera paces itself)."""

    def __init__(self, source: FrameSource, slot: CapturedInput, paced: bool) -> None:
        super().__init__(name="reenact-capture", daemon=True)
        self.source, self.slot, self.paced = source, slot, paced
        self.ended = threading.Event()  # the source gave no more frames (file end, camera gone)
        self.error: str | None = None
        self.frames = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            self._read_until_halted()
        finally:
            if self._halt.is_set():  # stopped: the reader releases the source, never another thread mid-read
                try:
                    self.source.close()
                except Exception as exc:
                    log.warning("closing the driving source: %s", exc)

    def _read_until_halted(self) -> None:
        period = 1.0 / max(self.source.fps, 1.0)
        due = time.perf_counter()
        while not self._halt.is_set():
            t0 = time.perf_counter()
            try:
                frame = self.source.read()
            except Exception as exc:  # a driver error must end the stream with a message, never kill the app
                log.exception("reading the driving source failed")
                self.error = str(exc) or type(exc).__name__
                frame = None
            t1 = time.perf_counter()
            if frame is None:
                self.ended.set()
                return
            self.frames += 1
            if self.slot.put(Captured(frame, t1, (t1 - t0) * 1000.0)) is False:  # a closed Handoff
                return
            if self.paced:
                due += period
                delay = due - time.perf_counter()
                if delay > 0:
                    self._halt.wait(delay)
                elif delay < -period:  # fell behind (slow decode): do not burst to catch up
                    due = time.perf_counter()

    def stop(self) -> None:
        self._halt.set()
        close = getattr(self.slot, "close", None)
        if close is not None:  # a Handoff: a put waiting for the pipeline returns now
            close()
        if isinstance(self.source, Interruptible):  # a stream waiting to reconnect gives up now
            self.source.interrupt()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Which driving source to open: a camera by index, a video file (looped) or a network stream by URL."""

    kind: str  # "camera" | "file" | "stream"
    camera: int = 0
    path: Path | None = None
    url: str = ""

    def describe(self) -> str:
        if self.kind == "camera":
            return f"camera {self.camera}"
        if self.kind == "stream":
            return f"stream {self.url}"
        return self.path.name if self.path else "no file"


def open_source(spec: SourceSpec, notify: Notify | None = None) -> FrameSource:
    """The source `spec` names; `notify` hears a stream's drops and reconnections."""
    if spec.kind == "camera":
        return CameraSource(spec.camera)
    if spec.kind == "stream":
        return StreamSource(spec.url, notify)
    if spec.path is None:
        raise ReenactError("no driving video chosen")
    return VideoFileSource(spec.path, loop=True)
