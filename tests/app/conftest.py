"""Qt for the app tests (offscreen, OpenCV's Qt5 environment undone), private settings, a recording virtual camera,
and frame sources standing in for a camera."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reenact.app.frames import Frame  # noqa: E402
from reenact.app.window import prepare_qt_environment  # noqa: E402

prepare_qt_environment()  # before pytest-qt creates the QApplication


@pytest.fixture(autouse=True)
def app_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder (settings.ini, avatars/) for every test here: none reads or writes real settings."""
    folder = tmp_path / "reenact-data"
    monkeypatch.setenv("REENACT_DATA_DIR", str(folder))
    return folder


class StillSource:
    """One frame over and over, as a camera looking at a still scene."""

    def __init__(self, image: np.ndarray, fps: float = 24.0) -> None:
        self.image, self.fps, self.index = image, fps, 0

    def read(self) -> Frame | None:
        self.index += 1
        return Frame(self.image, self.index, round(self.index * 1000 / self.fps))

    def close(self) -> None:
        pass


class ClipSource:
    """The frames once, delivered at `fps` (a camera paces itself), then the end (as a camera that was unplugged)."""

    def __init__(self, frames: list[np.ndarray], fps: float = 24.0) -> None:
        self.frames, self.fps, self.index = frames, fps, 0

    def read(self) -> Frame | None:
        if self.index >= len(self.frames):
            return None
        time.sleep(1.0 / self.fps)
        frame = Frame(self.frames[self.index], self.index, round(self.index * 1000 / self.fps))
        self.index += 1
        return frame

    def close(self) -> None:
        pass


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


# Driving clips as they come from phones and the web, made from the bundled clip with the real ffmpeg ---------------
def _ffmpeg(*args: str) -> None:
    import subprocess

    from reenact.app.sinks import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


MARK_BITS, MARK_W, MARK_H = 7, 40, 24  # a frame's number, in white/black blocks along its top edge


def _read_mark(image: np.ndarray) -> int:
    blocks = [image[4:MARK_H - 4, b * MARK_W + 6:(b + 1) * MARK_W - 6].mean() for b in range(MARK_BITS)]
    return sum(1 << b for b, v in enumerate(blocks) if v > 128)


@pytest.fixture(scope="session")
def read_mark() -> Callable[[np.ndarray], int]:
    """Reads the number `vfr_clip` drew on a frame (of the clip's size)."""
    return _read_mark


@pytest.fixture(scope="session")
def vfr_clip(tmp_path_factory: pytest.TempPathFactory, clip_frames: list[np.ndarray]) -> tuple[Path, list[float]]:
    """72 frames of the bundled clip at a variable rate, as phones record: 24 at 12 fps (0–2 s), then 48 at 48 fps
    (2–3 s); each frame carries its number (see `read_mark`). Returns the file and each frame's true time in seconds."""
    import subprocess

    from reenact.app.sinks import ffmpeg_exe

    times = [i / 12 if i < 24 else 2.0 + (i - 24) / 48 for i in range(72)]
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    h, w = clip_frames[0].shape[:2]
    # frames arrive at 48 fps; setpts respaces the first 24 four ticks apart (12 fps)
    pts = "if(lt(N\\,24)\\,N*4\\,96+N-24)/(48*TB)"
    proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                             "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "48", "-i", "-", "-vf", f"setpts={pts}",
                             "-fps_mode", "vfr", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(path)],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(72):
        frame = clip_frames[i].copy()
        for b in range(MARK_BITS):
            frame[:MARK_H, b * MARK_W:(b + 1) * MARK_W] = 255 if i >> b & 1 else 0
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path, times


@pytest.fixture
def faceless_clip(tmp_path: Path, no_face_image: Path) -> Path:
    """One second of a photograph without a face (scikit-image's coffee), as a real H.264 video."""
    path = tmp_path / "coffee.mp4"
    _ffmpeg("-loop", "1", "-i", str(no_face_image), "-t", "1", "-r", "24", "-vf", "scale=320:-2",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


@pytest.fixture(scope="session")
def truncated_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of the bundled clip with its index (moov) first, then cut short as a broken download is: the
    header still lists every frame, the data holds about half."""
    from reenact.engine.assets import DEFAULT_CLIP

    folder = tmp_path_factory.mktemp("truncated")
    whole, cut = folder / "whole.mp4", folder / "cut.mp4"
    _ffmpeg("-i", str(DEFAULT_CLIP), "-t", "2", "-c:v", "libx264", "-crf", "18", "-movflags", "+faststart",
            str(whole))
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


# A phone camera's stream: MJPEG over HTTP from a local server that can drop and come back -------------------------
class MjpegServer:
    """Serves the bundled clip as `multipart/x-mixed-replace` JPEG frames (what phone webcam apps send) on
    127.0.0.1, about 24 a second, looping. `drop()` closes every connection and stops listening; `start()` listens
    again on the same port."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        import cv2

        self.jpegs = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]
        self.port = 0
        self.served = 0
        self._server = None
        self._stop = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video"

    def start(self) -> None:
        import http.server
        import threading
        import time

        stop = self._stop = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not stop.is_set():
                        jpeg = owner.jpegs[i % len(owner.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpeg) + jpeg + b"\r\n")
                        owner.served += 1
                        i += 1
                        stop.wait(1 / 24)
                except OSError:  # the client went away
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, name="mjpeg-server", daemon=True).start()
        time.sleep(0)  # let it start listening (bound already: connections queue until then)

    def drop(self) -> None:
        assert self._server is not None and self._stop is not None
        self._stop.set()  # every handler ends its response and closes its connection
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self.drop()


@pytest.fixture
def mjpeg_server(clip_frames: list[np.ndarray]):
    server = MjpegServer(clip_frames[:48])
    server.start()
    yield server
    server.close()
