"""Where animated frames go: a video file (and, in the app, the virtual camera and the preview).

One `FrameSink` protocol. The video writer goes through the ffmpeg binary that imageio-ffmpeg ships (mp4 is H.264,
which opens in every common player), writes to a temporary name and renames at the end, so a crash never leaves a
half file under the real name.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reenact.app.containers import container_for
from reenact.app.frames import Frame
from reenact.app.latest import LatestSlot
from reenact.engine.atomic import publish, temp_file_beside
from reenact.engine.errors import ReenactError


@runtime_checkable
class FrameSink(Protocol):
    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def has_audio(path: str | Path) -> bool:
    """Whether a media file has an audio stream (asks ffmpeg; no ffprobe is shipped)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return any("Audio:" in line for line in proc.stderr.splitlines() if "Stream #" in line)


class VideoFileSink:
    """Video file writer; the extension picks the container and codecs (app/containers.py). Frames may be any size;
    the first frame fixes it (even sides, as yuv420p needs).

    Without `overwrite`, a file that appears under the output name while writing is kept and the video is left
    beside it (engine.atomic.publish).
    """

    def __init__(self, path: str | Path, fps: float, audio_from: str | Path | None = None,
                 overwrite: bool = False) -> None:
        self.container = container_for(path)
        self.path = Path(path)
        self.fps = fps
        self.overwrite = overwrite
        wants_audio = audio_from is not None and self.container.audio is not None
        self.audio_from = Path(audio_from) if wants_audio and has_audio(audio_from) else None
        # the temporary file carries the real extension too, so nothing downstream mistakes its format
        self._tmp = temp_file_beside(self.path, suffix=".partial" + self.path.suffix)
        self._proc: subprocess.Popen[bytes] | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0
        self._closed = False

    def _start(self, width: int, height: int) -> None:
        self._size = (width - width % 2, height - height % 2)
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{self._size[0]}x{self._size[1]}", "-r", f"{self.fps:.6g}", "-i", "-"]
        if self.audio_from is not None and self.container.audio is not None:
            cmd += ["-i", str(self.audio_from), "-map", "0:v:0", "-map", "1:a:0?", *self.container.audio, "-shortest"]
        cmd += [*self.container.video, "-f", self.container.muxer, str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: Frame | NDArray[np.uint8]) -> None:
        image = frame.image if isinstance(frame, Frame) else frame
        if self._proc is None:
            self._start(image.shape[1], image.shape[0])
        assert self._proc is not None and self._proc.stdin is not None and self._size is not None
        w, h = self._size
        if image.shape[1] < w or image.shape[0] < h:
            raise ValueError(f"frame {image.shape[1]}×{image.shape[0]} smaller than the video's {w}×{h}")
        try:
            self._proc.stdin.write(np.ascontiguousarray(image[:h, :w, :3]).tobytes())
        except BrokenPipeError:
            raise ReenactError(f"ffmpeg stopped while writing ({self._stderr()})", self.path) from None
        self.frames_written += 1

    def _stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        lines = self._proc.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def close(self) -> None:
        """Finish the file and move it to its real name (nothing is left behind if no frame was written)."""
        if self._closed:
            return
        self._closed = True
        if self._proc is None:
            self._tmp.unlink(missing_ok=True)
            return
        assert self._proc.stdin is not None
        try:  # finishing can take a while (faststart rewrites the file): Ctrl-C or SIGTERM then must not leave it
            self._proc.stdin.close()
            rc = self._proc.wait()
            if rc != 0:
                msg = self._stderr()
                raise ReenactError(f"ffmpeg failed ({msg or f'exit code {rc}'})", self.path)
            publish(self._tmp, self.path, self.overwrite)
        finally:
            self._discard()

    def abort(self) -> None:
        """Stop without publishing anything under the real name."""
        self._closed = True
        self._discard()

    def _discard(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.unlink(missing_ok=True)  # already gone once published

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(self, et: type[BaseException] | None, *rest: object) -> None:
        if et is None:
            self.close()
        else:
            self.abort()


# The app's outputs -------------------------------------------------------------------------------------------------

VIRTUAL_CAMERA_HELP = {
    "linux": "install v4l2loopback and load it with exclusive_caps=1, e.g. "
             "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=reenact`",
    "win32": "install OBS Studio 30 or newer (it brings the OBS Virtual Camera)",
    "darwin": "install OBS Studio 30 or newer, click Start Virtual Camera once in OBS (allow the system extension), "
              "then Stop Virtual Camera and quit OBS",
}


def virtual_camera_help(platform: str | None = None) -> str:
    """What a user must install for a virtual camera on this OS (the message shown when none is found)."""
    key = platform or sys.platform
    key = "linux" if key.startswith("linux") else key
    return VIRTUAL_CAMERA_HELP.get(key, VIRTUAL_CAMERA_HELP["linux"])


class VirtualCameraSink:
    """The animated avatar as a webcam other programs can pick (Zoom, Meet, OBS…), through pyvirtualcam.

    pyvirtualcam is GPL v2 and optional: it is imported here, only when the virtual camera is switched on. Frames of
    another size are refused rather than silently rescaled, so what the user chose is what callers see.
    """

    def __init__(self, width: int, height: int, fps: float, backend: str | None = None,
                 device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise ReenactError("the virtual camera needs the optional package pyvirtualcam "
                               "(pip install 'reenact[virtualcam]')") from None
        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                            device=device, backend=backend)
        except (RuntimeError, ValueError, OSError) as exc:
            detail = " ".join(str(exc).split())
            raise ReenactError(f"no virtual camera driver found: {virtual_camera_help()} ({detail})") from None
        self.width, self.height, self.fps = width, height, fps
        self.frames_written = 0
        self._closed = False

    @property
    def device(self) -> str:
        return self._cam.device

    @property
    def backend(self) -> str:
        return self._cam.backend

    def write(self, frame: Frame | NDArray[np.uint8]) -> None:
        if self._closed:
            return
        image = frame.image if isinstance(frame, Frame) else frame
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame {image.shape[1]}×{image.shape[0]} is not the camera's {self.width}×{self.height}")
        self._cam.send(np.ascontiguousarray(image[:, :, :3]))
        self.frames_written += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cam.close()

    def __enter__(self) -> VirtualCameraSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PreviewSink:
    """Keeps only the newest frame for a display to take when it is ready to paint.

    A screen repaints at its own pace; queueing every frame for it would make latency grow whenever painting is
    slower than the pipeline, so older frames are replaced (and counted as dropped).
    """

    def __init__(self) -> None:
        self._slot: LatestSlot[Frame] = LatestSlot()

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def write(self, frame: Frame) -> None:
        self._slot.put(frame)

    def take(self) -> Frame | None:
        """The newest frame not yet taken, or None."""
        return self._slot.take(0)

    def close(self) -> None:
        self._slot.take(0)


class PacedSink:
    """Writes to a fixed-rate sink (an mp4) at its declared fps whatever rate frames arrive at.

    When the pipeline is slower than the file's fps the last frame is repeated, when faster frames are skipped, so
    a recording plays back at the speed it happened.
    """

    def __init__(self, sink: FrameSink, fps: float, clock: Callable[[], float] | None = None) -> None:
        self.sink = sink
        self.fps = fps
        self._clock = clock or time.monotonic
        self._t0: float | None = None
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        due = int((now - self._t0) * self.fps) + 1  # frames that should exist by now
        while self.frames_written < due:
            self.sink.write(frame)
            self.frames_written += 1

    def close(self) -> None:
        self.sink.close()


class TimedSink:
    """Writes frames stamped with their presentation time to a fixed-rate sink (an mp4) at those times.

    Phones and screen recorders space frames unevenly. One output frame per input frame at a constant rate would
    show a frame filmed at 2 s wherever its index falls, seconds away from the copied audio. Here output frame n
    shows the latest input frame due by then (its time rounded to the nearest output frame): gaps repeat a frame,
    and of several frames due at once only the last is kept.
    """

    def __init__(self, sink: FrameSink, fps: float) -> None:
        self.sink = sink
        self.fps = fps
        self._held: tuple[Frame | NDArray[np.uint8], int] | None = None  # the newest frame and its output slot
        self.frames_written = 0

    def write(self, frame: Frame | NDArray[np.uint8], timestamp_s: float) -> None:
        slot = round(timestamp_s * self.fps)
        if self._held is not None:
            self._fill(slot)
        self._held = (frame, slot)

    def _fill(self, end: int) -> None:
        """The held frame in every output slot before `end` (none when a newer frame is already due)."""
        assert self._held is not None
        while self.frames_written < end:
            self.sink.write(self._held[0])
            self.frames_written += 1

    def close(self) -> None:
        """Write the last frame (it lasts one output frame) and close the sink."""
        if self._held is not None:
            self._fill(self._held[1] + 1)
            self._held = None
        self.sink.close()
