"""Where the app's output frames go: the preview, the virtual camera and a recording, all at one output format.

No Qt here: the worker forwards the router's events to its signals, and the bench drives the same router (with a
null virtual-camera backend) so that its output stage is the app's. Changing the format reopens the virtual camera
at the new size and ends a recording (an mp4 cannot change size midway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reenact.app.frames import Frame
from reenact.app.framing import DEFAULT_SIZE
from reenact.app.sinks import PacedSink, PreviewSink, VideoFileSink, VirtualCameraSink
from reenact.engine.atomic import check_output_path
from reenact.engine.errors import ReenactError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutputFormat:
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    fps: int = 30


def _ignore(*args: object) -> None:
    pass


@dataclass(frozen=True, slots=True)
class OutputEvents:
    """What the router tells its owner (the worker turns these into Qt signals); each defaults to nothing."""

    message: Callable[[str, str], None] = _ignore  # level, text
    virtual_camera_changed: Callable[[bool, str], None] = _ignore  # on, device
    virtual_camera_failed: Callable[[str], None] = _ignore  # why it could not start
    recording_changed: Callable[[bool, str], None] = _ignore  # on, path


class OutputRouter:
    """Sends each output frame to the preview, the virtual camera (when on) and the recording (when on)."""

    def __init__(self, output: OutputFormat | None = None, virtual_camera_backend: str | None = None,
                 events: OutputEvents | None = None) -> None:
        self.format = output or OutputFormat()
        self.virtual_camera_backend = virtual_camera_backend  # None: pyvirtualcam picks the OS's camera
        self.events = events or OutputEvents()
        self.preview = PreviewSink()  # the output frames, exactly as the virtual camera and recording get them
        self.vcam: VirtualCameraSink | None = None
        self._recorder: PacedSink | None = None
        self._record_path: Path | None = None

    @property
    def recording(self) -> Path | None:
        return self._record_path

    @property
    def frames_recorded(self) -> int:
        return 0 if self._recorder is None else self._recorder.frames_written

    def send(self, frame: Frame) -> None:
        """One output frame to every open output; an output that fails is closed and said, the others go on."""
        self.preview.write(frame)
        if self.vcam is not None:
            try:
                self.vcam.write(frame)
            except Exception as exc:
                self.close_virtual_camera()
                self.events.message("error", f"The virtual camera stopped: {exc}")
        if self._recorder is not None:
            try:
                self._recorder.write(frame)
            except (ReenactError, OSError, ValueError) as exc:
                self._recorder = self._record_path = None
                self.events.recording_changed(False, "")
                self.events.message("error", f"Recording stopped: {exc}")

    def set_format(self, output: OutputFormat) -> bool:
        """Use another size or rate: a recording stops, the virtual camera reopens. False when nothing changed."""
        if output == self.format:
            return False
        self.format = output
        if self._recorder is not None:
            self.stop_recording()
            self.events.message("info", "Recording stopped because the output size changed.")
        if self.vcam is not None:
            self.close_virtual_camera()
            self.open_virtual_camera()
        return True

    def open_virtual_camera(self) -> None:
        if self.vcam is not None:
            return
        o = self.format
        try:
            self.vcam = VirtualCameraSink(o.width, o.height, o.fps, backend=self.virtual_camera_backend)
        except ReenactError as exc:
            self.events.virtual_camera_changed(False, "")
            self.events.virtual_camera_failed(str(exc))
            raise
        self.events.virtual_camera_changed(True, self.vcam.device)
        self.events.message("info", f"Virtual camera on: {self.vcam.device} ({o.width}×{o.height}, {o.fps} fps).")

    def close_virtual_camera(self) -> None:
        if self.vcam is not None:
            vcam, self.vcam = self.vcam, None
            try:
                vcam.close()
            finally:
                self.events.virtual_camera_changed(False, "")

    def start_recording(self, path: Path, overwrite: bool = True) -> Path:
        """Record the output frames at the output rate; `overwrite` because the app's save dialog already asked."""
        if self._recorder is not None:
            self.stop_recording()
        path = check_output_path(path, overwrite=overwrite)
        self._recorder = PacedSink(VideoFileSink(path, self.format.fps, overwrite=overwrite), self.format.fps)
        self._record_path = path
        self.events.recording_changed(True, str(path))
        return path

    def stop_recording(self) -> int:
        """Finish the recording (the file appears under its name now); the frames it holds."""
        recorder, path = self._recorder, self._record_path
        self._recorder = self._record_path = None
        if recorder is None:
            return 0
        self.events.recording_changed(False, str(path))
        recorder.close()
        if recorder.frames_written:
            self.events.message("info", f"Recording saved: {path}")
        return recorder.frames_written

    def close(self) -> None:
        """Finish a recording, close the virtual camera and empty the preview. Idempotent."""
        for step in (self.stop_recording, self.close_virtual_camera):
            try:
                step()
            except Exception as exc:
                log.warning("while closing the outputs: %s", exc)
        self.preview.close()
