"""Ready for the call, in a real (offscreen) window: what the virtual camera (a pyvirtualcam backend registered with
`register_backend`) receives by default, passthrough, F, the CPU figure and the set-up report."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QLabel

from reenact.app.framing import FaceBox
from reenact.app.window import AppOptions, MainWindow
from reenact.app.worker import SourceSpec
from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP
from reenact.engine.motion import closest_expression
from tests.app.conftest import ClipSource, StillSource

WAIT_MS = 60_000  # an upper bound for slow shared machines, not a speed requirement
VCAM, MISSING = "reenact-test-recorder", "reenact-test-missing"  # registered by the `vcam` fixture
MONA = AVATARS_DIR / "mona_lisa.jpg"


@pytest.fixture
def open_window(qtbot, app_data: Path):
    def make(**options) -> MainWindow:
        options.setdefault("driving", DEFAULT_CLIP)
        options.setdefault("avatar", MONA)
        window = MainWindow(AppOptions(probe_cameras=False, weights=Path("/nonexistent/weights.pt"), **options))
        qtbot.addWidget(window)
        window.show()
        return window

    return make


def focus(qtbot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWindow() is not None, timeout=WAIT_MS)


def switch_on_camera(qtbot, window: MainWindow, vcam) -> object:
    with qtbot.waitSignal(window.worker.virtual_camera_changed, timeout=WAIT_MS):
        window.controls.vcam_button.click()
    qtbot.waitUntil(lambda: bool(vcam.instances) and vcam.instances[-1].frames >= 3, timeout=WAIT_MS)
    return vcam.instances[-1]


def received(qtbot, cam, n: int) -> list[np.ndarray]:
    """The next n distinct frames the virtual camera receives."""
    frames: list[np.ndarray] = []

    def next_one() -> bool:
        if cam.last is not None and (not frames or cam.frames > seen[-1]):
            frames.append(cam.last.copy())
            seen.append(cam.frames)
        return len(frames) >= n

    seen = [cam.frames]
    qtbot.waitUntil(next_one, timeout=WAIT_MS)
    return frames


def test_the_call_gets_720p_with_the_avatar_framed_as_a_webcam_shows_a_person(qtbot, open_window, vcam,
                                                                              static_tracker) -> None:
    window = open_window(virtual_camera_backend=VCAM)
    assert window.controls.output() == (1280, 720, 30)
    assert window.controls.framing_combo.currentData() == "head"
    cam = switch_on_camera(qtbot, window, vcam)
    assert (cam.width, cam.height, cam.fps) == (1280, 720, 30) and not cam.bad_frames
    for frame in received(qtbot, cam, 3):
        face = FaceBox.around(static_tracker.detect(frame))  # MediaPipe on what the call receives
        assert 0.35 <= face.height / 720 <= 0.45, f"the face is {face.height / 720:.0%} of the frame height"
        grey = frame.astype(np.float32).mean(axis=2)
        assert grey.std(axis=0).min() > 2 and grey.std(axis=1).min() > 2, "no bars: every row and column varies"
    assert "LIVE: avatar" in window.avatar_caption.text()

    # Whole portrait is still there: the entire picture, fitted in the frame.
    window.controls.framing_combo.setCurrentIndex(window.controls.framing_combo.findData("portrait"))
    qtbot.waitUntil(lambda: (lm := static_tracker.detect(cam.last)) is None or
                    FaceBox.around(lm).height / 720 < 0.3, timeout=WAIT_MS)
    assert not window.controls.zoom_slider.isEnabled()


def test_passthrough_sends_the_camera_frame_itself(qtbot, open_window, vcam, clip_frames) -> None:
    window = open_window(virtual_camera_backend=VCAM)
    cam = switch_on_camera(qtbot, window, vcam)
    camera = cv2.resize(clip_frames[10], (1280, 720), interpolation=cv2.INTER_CUBIC)
    camera[:40, :200] = (255, 0, 0)  # a red corner top left: a mirrored frame would have it top right
    window.worker.use_source(StillSource(camera), SourceSpec("camera", camera=3))
    assert window.controls.mirror_check.isChecked()  # the preview is mirrored, the call must not be

    focus(qtbot, window)
    with qtbot.waitSignal(window.worker.passthrough_changed, timeout=WAIT_MS) as changed:
        qtbot.keyClick(window, Qt.Key.Key_0)  # avatarify's key
    assert changed.args == [True] and window.controls.passthrough_button.isChecked()
    qtbot.waitUntil(lambda: cam.last is not None and np.array_equal(cam.last, camera), timeout=WAIT_MS)
    assert "passthrough" in window.avatar_caption.text() and "LIVE: your camera" in window.avatar_caption.text()
    assert "passthrough" in window.stats.outputs_label.text()
    qtbot.waitUntil(lambda: np.array_equal(window.avatar_view.current_frame(), camera), timeout=WAIT_MS)  # the preview shows what is live

    with qtbot.waitSignal(window.worker.passthrough_changed, timeout=WAIT_MS) as changed:
        window.controls.passthrough_button.click()  # the button does the same
    assert changed.args == [False]
    qtbot.waitUntil(lambda: np.abs(cam.last.astype(int) - camera).mean() > 20, timeout=WAIT_MS)  # the avatar again
    assert "LIVE: avatar" in window.avatar_caption.text()


def test_f_takes_the_recent_face_closest_to_the_avatars_expression_as_neutral(qtbot, open_window,
                                                                             clip_frames) -> None:
    window = open_window()
    worker = window.worker
    qtbot.waitUntil(lambda: worker.pipeline is not None and worker.pipeline.avatar is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(worker.source_ended, timeout=WAIT_MS):
        worker.use_source(ClipSource(clip_frames[:60]), SourceSpec("camera", camera=5))
    recent = worker.recent_faces()  # what F searches: the faces of the last few seconds
    assert len(recent) >= 10
    avatar = worker.pipeline.avatar.crop.landmarks
    best = recent[closest_expression(recent, avatar)]
    # Start from another neutral pose (which frames the worker kept depends on the machine's load): F must move it.
    other = next(face for face in recent if not np.allclose(face, best))
    worker.pipeline.set_reference(other)
    assert not np.allclose(worker.pipeline.reference, best)

    focus(qtbot, window)
    with qtbot.waitSignal(worker.calibrated, timeout=WAIT_MS) as calibrated:
        qtbot.keyClick(window, Qt.Key.Key_F)
    assert calibrated.args == [True]
    assert np.array_equal(worker.pipeline.reference, best)
    qtbot.waitUntil(lambda: "Neutral pose" in window.notice.text(), timeout=WAIT_MS)


def test_the_status_bar_shows_the_apps_own_cpu_use_next_to_the_fps(qtbot, open_window) -> None:
    window = open_window()
    bar = window.stats
    def busy() -> bool:  # animating takes CPU: more than 0 %
        shown = re.fullmatch(r"CPU (\d+(?:\.\d)?)% of \d+ cores?", bar.cpu_label.text())
        return shown is not None and float(shown.group(1)) > 0

    qtbot.waitUntil(busy, timeout=WAIT_MS)
    labels = sorted((w for w in bar.findChildren(QLabel) if w.isVisible()), key=lambda w: w.mapTo(bar, w.rect().topLeft()).x())
    assert labels.index(bar.cpu_label) == labels.index(bar.fps_label) + 1, "right after the fps"


def test_a_virtual_camera_that_cannot_start_shows_the_setup_report(qtbot, open_window, vcam) -> None:
    window = open_window(virtual_camera_backend=MISSING)
    with qtbot.waitSignal(window.report_ready, timeout=WAIT_MS):
        window.controls.vcam_button.click()
    report = window.report
    assert report.isVisible()
    text = report.text()
    assert "no virtual camera driver" in report.headline.text().lower()
    assert re.search(r"^\[(ok|FAIL)\] +camera: ", text, re.M)
    assert re.search(r"^\[(ok|FAIL)\] +virtual camera", text, re.M) and "fix:" in text
    if text.count("v4l2loopback"):  # this machine: Linux without the module
        assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in text
    assert "[ok]   backend: analytic warp" in text and "Qt platform plugin" in text
    assert text.splitlines()[-1].startswith(("Ready", "Not ready"))
    assert window.worker.running and not window.controls.vcam_button.isChecked()


def test_the_cpu_meter_counts_this_process_as_a_share_of_the_machine() -> None:
    import time

    from reenact.app.cpu import CpuMeter

    meter = CpuMeter()
    start = time.process_time()
    while time.process_time() - start < 0.4:  # busy: this process's own work
        pass
    busy = meter.sample()
    time.sleep(0.5)
    idle = meter.sample()
    assert 0 < busy <= 100 and idle < busy
