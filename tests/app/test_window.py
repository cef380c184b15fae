"""The desktop app in a real (offscreen) Qt window, driven by the bundled clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QApplication

from reenact.app.framing import FaceBox, Framing, frame_head
from reenact.app.runner import MAX_IN_FLIGHT
from reenact.app.settings import load_settings
from reenact.app.window import AppOptions, MainWindow
from reenact.app.worker import SourceSpec
from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP, load_image
from tests.app.conftest import StillSource

WAIT_MS = 60_000  # an upper bound for slow shared machines, not a speed requirement
VCAM, MISSING = "reenact-test-recorder", "reenact-test-missing"  # registered by the `vcam` fixture


@pytest.fixture
def open_window(qtbot, app_data: Path):
    def make(**options) -> MainWindow:
        options.setdefault("driving", DEFAULT_CLIP)
        window = MainWindow(AppOptions(probe_cameras=False, weights=Path("/nonexistent/weights.pt"), **options))
        qtbot.addWidget(window)
        window.show()
        return window

    return make


def wait_frames(qtbot, window: MainWindow, n: int) -> None:
    start = window.avatar_view.frames_shown
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown >= start + n, timeout=WAIT_MS)


def collect(qtbot, window: MainWindow, n: int) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """(animated output, driving landmarks, driving frame) for the next n frames, as the window showed them."""
    out: list = []

    def grab() -> None:
        frame = window.avatar_view.current_frame()
        if frame is not None and window.driving_view.current_frame() is not None:
            out.append((frame.copy(), window.driving_view._points, window.driving_view.current_frame()))

    window.worker.result_ready.connect(grab)  # runs after the window's own slot has updated the views
    qtbot.waitUntil(lambda: len(out) >= n, timeout=WAIT_MS)
    window.worker.result_ready.disconnect(grab)
    return out


def still_frame(path: Path, tracker) -> np.ndarray:
    """The avatar at rest as the default output shows it: 1280×720, head and shoulders."""
    image = load_image(path)
    return frame_head(image, FaceBox.around(tracker.detect(image)), (1280, 720), Framing())


def click_avatar(qtbot, window: MainWindow, stem: str) -> Path:
    gallery = window.gallery
    row = next(i for i, p in enumerate(gallery.paths()) if p.stem == stem)
    item = gallery.list.item(row)
    gallery.list.scrollToItem(item)
    qtbot.mouseClick(gallery.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=gallery.list.visualItemRect(item).center())
    return gallery.paths()[row]


def _changes(frames: list[np.ndarray]) -> np.ndarray:
    """Mean absolute change between consecutive distinct frames (the view may show a frame twice)."""
    return np.array([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, frames[1:], strict=False)
                     if a is not b])


def test_animated_frames_follow_the_driving_face_and_the_picked_avatar(qtbot, open_window, static_tracker) -> None:
    window = open_window(avatar=AVATARS_DIR / "astronaut.jpg")
    wait_frames(qtbot, window, 3)
    frames = collect(qtbot, window, 30)
    outputs = [f for f, _, _ in frames]
    assert all(f.shape == (720, 1280, 3) for f in outputs)  # the default output size
    assert sum(m is not None for _, m, _ in frames) >= 20  # the clip's face is tracked
    moving = _changes(outputs)

    # The same driving face held still (a paused camera): the avatar comes to rest.
    still = frames[-1][2]
    window.worker.use_source(StillSource(still), SourceSpec("file", path=Path("still.png")))
    collect(qtbot, window, 15)  # smoothing settles
    resting = _changes([f for f, _, _ in collect(qtbot, window, 10)])
    assert np.median(moving) > 0.1  # grey levels per pixel between frames, over the whole 1280×720 frame
    assert np.median(moving) > 10 * max(np.median(resting), 1e-3)
    astronaut = still_frame(AVATARS_DIR / "astronaut.jpg", static_tracker).astype(int)
    other = still_frame(AVATARS_DIR / "mona_lisa.jpg", static_tracker).astype(int)
    # it is the astronaut that moves (her head and all of her hair move with the driver's)
    assert np.abs(outputs[-1] - astronaut).mean() < min(25, 0.5 * np.abs(outputs[-1] - other).mean())

    # Picking another avatar in the gallery: the next frames animate it.
    with qtbot.waitSignal(window.worker.avatar_ready, timeout=WAIT_MS) as ready:
        picked = click_avatar(qtbot, window, "mona_lisa")
    assert Path(ready.args[0]) == picked
    mona = still_frame(picked, static_tracker).astype(int)
    after = [f for f, _, _ in collect(qtbot, window, 3)][-1].astype(int)
    assert np.abs(after - mona).mean() < min(25, 0.5 * np.abs(after - astronaut).mean())
    assert window.stats.mode_label.text().startswith("analytic warp")
    assert "fps" in window.stats.fps_label.text() and "landmarks" in window.stats.stages_label.text()


def test_virtual_camera_receives_frames_of_the_chosen_size_and_rate(qtbot, open_window, vcam) -> None:
    window = open_window(virtual_camera_backend=VCAM)
    controls = window.controls
    controls.select_output(1280, 720, 24)
    with qtbot.waitSignal(window.worker.virtual_camera_changed, timeout=WAIT_MS) as changed:
        controls.vcam_button.click()
    assert changed.args == [True, "Test Camera"]
    qtbot.waitUntil(lambda: bool(vcam.instances) and vcam.instances[-1].frames >= 10, timeout=WAIT_MS)
    cam = vcam.instances[-1]
    assert (cam.width, cam.height, cam.fps) == (1280, 720, 24) and not cam.bad_frames
    assert cam.last is not None and cam.last.std() > 10  # a picture, not a blank frame
    assert "cam" in window.stats.outputs_label.text()
    with qtbot.waitSignal(window.worker.virtual_camera_changed, timeout=WAIT_MS) as changed:
        controls.vcam_button.click()
    assert changed.args[0] is False and cam.closed and not controls.vcam_button.isChecked()


def test_missing_virtual_camera_driver_explains_and_the_app_keeps_running(qtbot, open_window, vcam) -> None:
    window = open_window(virtual_camera_backend=MISSING)
    wait_frames(qtbot, window, 2)
    with qtbot.waitSignal(window.worker.virtual_camera_changed, timeout=WAIT_MS) as changed:
        window.controls.vcam_button.click()
    assert changed.args[0] is False
    qtbot.waitUntil(lambda: window.notice.level == "error", timeout=WAIT_MS)
    text = window.notice.text()
    assert "no virtual camera driver" in text.lower() and ("v4l2loopback" in text or "OBS" in text)
    assert not window.controls.vcam_button.isChecked()
    wait_frames(qtbot, window, 3)  # still animating
    assert window.worker.running


def _drop(window: MainWindow, path: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    centre = window.rect().center()
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return True


def test_dropping_an_image_without_a_face_is_rejected(qtbot, open_window, app_data: Path, no_face_image: Path,
                                                     tmp_path: Path) -> None:
    window = open_window()
    wait_frames(qtbot, window, 2)  # the start-up avatar is ready
    before = window.gallery.paths()
    with qtbot.waitSignal(window.avatar_added, timeout=WAIT_MS) as added:
        assert _drop(window, no_face_image)
    assert added.args[0] is None and "no face" in added.args[1]
    assert window.notice.level == "error" and "no face" in window.notice.text()
    assert window.gallery.paths() == before
    assert not (app_data / "avatars").exists() or not any((app_data / "avatars").iterdir())

    # A portrait is accepted, copied into the user's folder, shown and chosen; then it can be removed again.
    portrait = tmp_path / "my portrait.png"
    cv2.imwrite(str(portrait), cv2.imread(str(AVATARS_DIR / "the_scream.jpg")))
    with qtbot.waitSignal(window.worker.avatar_ready, timeout=WAIT_MS) as ready:
        assert _drop(window, portrait)
    added = Path(ready.args[0])
    assert added.parent == app_data / "avatars" and added in window.gallery.paths()
    assert len(window.gallery.paths()) == len(before) + 1
    assert window.gallery.remove_button.isEnabled()
    window.gallery.remove_button.click()
    assert not added.exists() and window.gallery.paths() == before

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert not _drop(window, text)  # only image files are accepted as drops


def test_calibrate_key_takes_the_current_face_as_reference(qtbot, open_window) -> None:
    window = open_window()
    pipeline = lambda: window.worker.pipeline  # noqa: E731
    qtbot.waitUntil(lambda: pipeline() is not None and pipeline().reference is not None, timeout=WAIT_MS)
    first = pipeline().reference
    frames = collect(qtbot, window, 12)  # let the face move on
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWindow() is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(window.worker.calibrated, timeout=WAIT_MS) as calibrated:
        qtbot.keyClick(window, Qt.Key.Key_X)
    assert calibrated.args == [True]
    after = pipeline().reference
    assert after is not None and not np.allclose(after, first)
    # the new reference is a face the worker saw after the first one (the clip's later frames)
    assert np.abs(after[:, :2] - first[:, :2]).mean() > 0.1
    qtbot.waitUntil(lambda: "Calibrated" in window.notice.text(), timeout=WAIT_MS)
    assert frames and window.notice.level == "info"


def test_closing_the_window_stops_the_worker_and_releases_the_source(qtbot, open_window, app_data: Path) -> None:
    window = open_window()
    wait_frames(qtbot, window, 3)
    source = window.worker.source
    assert source is not None and window.worker.running
    window.close()
    assert not window.worker.running
    assert window.worker.source is None and source.read() is None
    assert not source._cap.isOpened()  # the video file (or camera) handle is released
    assert (app_data / "settings.ini").is_file()


def test_settings_persist_between_runs(qtbot, open_window) -> None:
    window = open_window(avatar=AVATARS_DIR / "the_scream.jpg")
    wait_frames(qtbot, window, 2)
    c = window.controls
    c.absolute_radio.setChecked(True)
    c.crop_radio.setChecked(True)
    c.mirror_check.setChecked(False)
    c.landmarks_check.setChecked(False)
    c.smoothing_slider.setValue(80)
    c.select_output(1920, 1080, 25)
    c.zoom_slider.setValue(125)
    c.offset_slider.setValue(-5)
    window.set_source(SourceSpec("file", path=DEFAULT_CLIP))
    window.resize(window.minimumSizeHint().width(), 580)  # the offscreen platform's screen is only 800×600
    window.close()
    saved = load_settings()
    assert (saved.motion, saved.paste, saved.mirror, saved.landmarks, saved.smoothing) == \
        ("absolute", False, False, False, 80)
    assert (saved.output_width, saved.output_height, saved.fps) == (1920, 1080, 25)
    assert (saved.framing, saved.zoom, saved.offset) == ("head", 125, -5)
    assert Path(saved.avatar).name == "the_scream.jpg"
    assert (saved.source, Path(saved.video)) == ("file", DEFAULT_CLIP)  # picked in the window, so remembered

    again = open_window(driving=None)  # no command-line source: the remembered one
    c = again.controls
    assert c.absolute_radio.isChecked() and c.crop_radio.isChecked()
    assert not c.mirror_check.isChecked() and not c.landmarks_check.isChecked()
    assert c.smoothing_slider.value() == 80 and c.output() == (1920, 1080, 25)
    assert c.framing() == Framing("head", 1.25, -0.05)
    assert again.current_avatar is not None and again.current_avatar.name == "the_scream.jpg"
    assert again.height() == 580  # the window's geometry came back (a new window opens 640 high)
    wait_frames(qtbot, again, 2)
    assert again.avatar_view.current_frame().shape == (1080, 1920, 3)


def test_recording_writes_an_mp4_of_the_output(qtbot, open_window, tmp_path: Path) -> None:
    from reenact.app.sources import VideoFileSource

    window = open_window()
    wait_frames(qtbot, window, 2)
    out = tmp_path / "rec" / "take.mp4"
    with qtbot.waitSignal(window.worker.recording_changed, timeout=WAIT_MS) as started:
        window.start_recording(out)
    assert started.args == [True, str(out)] and window.controls.record_button.isChecked()
    wait_frames(qtbot, window, 12)
    with qtbot.waitSignal(window.worker.recording_changed, timeout=WAIT_MS):
        window.stop_recording()
    qtbot.waitUntil(lambda: out.is_file(), timeout=WAIT_MS)
    assert not list(out.parent.glob("*.partial.mp4"))
    with VideoFileSource(out) as video:
        first = video.read()
        assert first is not None and first.image.shape == (720, 1280, 3) and video.fps == 30
    assert not window.controls.record_button.isChecked()


def test_hotkeys_toggle_the_controls(qtbot, open_window) -> None:
    window = open_window()
    wait_frames(qtbot, window, 2)  # the start-up avatar is ready
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWindow() is not None, timeout=WAIT_MS)
    c = window.controls
    mirror, landmarks, portrait = c.mirror_check.isChecked(), c.landmarks_check.isChecked(), c.full_radio.isChecked()
    for key in (Qt.Key.Key_M, Qt.Key.Key_L, Qt.Key.Key_P):
        qtbot.keyClick(window, key)
    assert c.mirror_check.isChecked() != mirror and c.landmarks_check.isChecked() != landmarks
    assert c.full_radio.isChecked() != portrait
    with qtbot.waitSignal(window.worker.avatar_ready, timeout=WAIT_MS) as ready:
        qtbot.keyClick(window, Qt.Key.Key_2)
    assert Path(ready.args[0]) == window.gallery.paths()[1]


def test_face_only_shows_the_crop_and_portrait_the_whole_image(qtbot, open_window, static_tracker) -> None:
    window = open_window(avatar=AVATARS_DIR / "astronaut.jpg")
    wait_frames(qtbot, window, 3)
    portrait = still_frame(AVATARS_DIR / "astronaut.jpg", static_tracker).astype(int)
    distance = lambda: np.abs(window.avatar_view.current_frame().astype(int) - portrait).mean()  # noqa: E731
    assert distance() < 15
    window.controls.crop_radio.setChecked(True)
    wait_frames(qtbot, window, 3 + MAX_IN_FLIGHT)  # frames already on their way keep the old setting
    assert distance() > 30 and window.avatar_view.current_frame().shape == (720, 1280, 3)
    window.controls.full_radio.setChecked(True)
    wait_frames(qtbot, window, 3 + MAX_IN_FLIGHT)
    assert distance() < 15



def test_refreshing_cameras_keeps_the_window_responsive(qtbot, open_window, monkeypatch) -> None:
    """The probe is held open until the window has shown new frames: a probe on the GUI thread would hold the
    click itself (and so fail the first check); one on a helper thread lets the window go on animating."""
    import threading

    from reenact.app import sources

    probing, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_probe() -> list[int]:  # a real camera can take seconds to open
        probing.set()
        release.wait(WAIT_MS / 1000)  # a safety net only: the test releases it
        done.set()
        return []

    monkeypatch.setattr(sources, "list_cameras", slow_probe)
    window = open_window()
    wait_frames(qtbot, window, 1)
    window.controls.refresh_button.click()
    assert probing.wait(WAIT_MS / 1000) and not done.is_set(), "the click returned while the probe still runs"
    assert not window.controls.refresh_button.isEnabled()  # one probe at a time
    wait_frames(qtbot, window, 3)  # the window keeps painting frames while the probe waits
    assert not done.is_set()
    with qtbot.waitSignal(window.cameras_found, timeout=WAIT_MS) as found:
        release.set()
    assert found.args == [window.cameras] and window.controls.refresh_button.isEnabled()
    assert "Cameras found" in window.notice.text()
    combo = window.controls.source_combo
    assert combo.itemData(combo.currentIndex()).kind == "file"  # the running source stays selected


def test_the_status_bar_says_when_head_motion_was_limited(qtbot) -> None:
    from reenact.app.widgets.stats import StatsBar
    from reenact.app.worker import WorkerResult

    bar = StatsBar()
    qtbot.addWidget(bar)
    frame = np.zeros((8, 8, 3), np.uint8)
    landmarks = np.zeros((478, 2), np.float32)
    bar.show_result(WorkerResult(0, frame, landmarks, True, {"landmarks": 1.0}, 30.0, 20.0, 0, clamped=True))
    assert "motion limited" in bar.stages_label.text()
    bar.show_result(WorkerResult(1, frame, landmarks, True, {"landmarks": 1.0}, 30.0, 20.0, 0))
    assert "motion limited" not in bar.stages_label.text()
