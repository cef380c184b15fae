"""Phone and network cameras: an MJPEG stream from a local HTTP server drives the avatar; a dropped server gives a
message, then the stream reconnects by itself."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from reenact.app.sources import StreamSource, check_stream_url, is_stream_url
from reenact.app.window import AppOptions, MainWindow
from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP
from reenact.engine.errors import ReenactError

WAIT_MS = 60_000  # an upper bound for slow shared machines, not a speed requirement


def test_stream_urls_are_told_from_camera_numbers_and_checked() -> None:
    assert is_stream_url("http://192.168.1.20:8080/video") and is_stream_url("rtsp://cam.local/live")
    assert not is_stream_url("0") and not is_stream_url("talk.mp4")
    for bad, why in (("ftp://host/x", "not a stream URL"), ("http://:8080/video", "no host"),
                     ("http://host:port/x", "port is not a number")):
        with pytest.raises(ReenactError, match=why) as info:
            check_stream_url(bad)
        assert str(info.value).startswith(bad) and "\n" not in str(info.value)


def test_a_stream_that_nothing_serves_is_one_line_naming_the_url(mjpeg_server) -> None:
    mjpeg_server.drop()
    with pytest.raises(ReenactError) as info:
        StreamSource(mjpeg_server.url, timeout_s=2.0)
    text = str(info.value)
    assert text.startswith(mjpeg_server.url + ": cannot open the stream") and "\n" not in text


def test_a_dropped_stream_says_so_and_reconnects(mjpeg_server, clip_frames) -> None:
    said: list[tuple[str, str]] = []
    lost = threading.Event()

    def notify(level: str, text: str) -> None:
        said.append((level, text))
        if level == "warning":
            lost.set()
            mjpeg_server.start()  # the phone app comes back while the source is retrying

    source = StreamSource(mjpeg_server.url, notify, timeout_s=3.0, retry_s=0.2)
    try:
        first = [source.read() for _ in range(5)]
        assert all(f is not None and f.image.shape == clip_frames[0].shape for f in first)
        assert np.abs(first[0].image.astype(int) - clip_frames[0]).mean() < 6  # the clip's frames, RGB (JPEG-close)
        mjpeg_server.drop()
        after = source.read()  # blocks through the reconnection, then returns the first new frame
        assert lost.is_set() and after is not None and source.reconnects == 1
        assert said[0] == ("warning", f"Lost the stream {mjpeg_server.url}; reconnecting…")
        assert said[-1] == ("info", f"Reconnected to {mjpeg_server.url}.")
        assert after.index == 5 and source.read() is not None
    finally:
        source.close()
    assert source.read() is None


def test_a_phone_stream_drives_the_avatar_and_survives_a_drop(qtbot, app_data: Path, mjpeg_server) -> None:
    window = MainWindow(AppOptions(driving=DEFAULT_CLIP, avatar=AVATARS_DIR / "mona_lisa.jpg",
                                   probe_cameras=False, weights=Path("/nonexistent/weights.pt")))
    qtbot.addWidget(window)
    window.show()
    qtbot.keyClicks(window.controls.url_edit, mjpeg_server.url)  # the source picker's field
    with qtbot.waitSignal(window.worker.source_ready, timeout=WAIT_MS,
                          check_params_cb=lambda text: text == f"stream {mjpeg_server.url}"):
        window.controls.connect_button.click()
    faces: list[bool] = []
    outputs: list[np.ndarray] = []

    def grab() -> None:  # runs after the window's own slot has shown the result
        faces.append(window.driving_view._points is not None)
        frame = window.avatar_view.current_frame()
        if frame is not None:
            outputs.append(frame)

    window.worker.result_ready.connect(grab)
    qtbot.waitUntil(lambda: sum(faces) >= 10, timeout=WAIT_MS)  # the stream's face is tracked
    combo = window.controls.source_combo
    assert combo.currentText() == f"Stream · {mjpeg_server.url}"
    assert "stream" in window.driving_caption.text()
    assert outputs[-1].shape == (720, 1280, 3)
    assert np.median([np.abs(a.astype(int) - b).mean() for a, b in zip(outputs[-6:], outputs[-5:], strict=False)]) > 0.1, \
        "the avatar moves with the stream's face"

    mjpeg_server.drop()
    qtbot.waitUntil(lambda: any("Lost the stream" in t for _, t in window.notice.history), timeout=WAIT_MS)
    assert window.worker.running and not any("stopped sending" in t for _, t in window.notice.history)
    mjpeg_server.start()
    qtbot.waitUntil(lambda: any("Reconnected" in t for _, t in window.notice.history), timeout=WAIT_MS)
    before = len(faces)
    qtbot.waitUntil(lambda: sum(faces[before:]) >= 5, timeout=WAIT_MS)  # animating again
    window.close()
    assert window.settings.source == "stream" and window.settings.stream_url == mjpeg_server.url
