"""The main window: avatar gallery | driving and animated previews | controls, with live figures below.

The window only shows things and forwards the user's choices; all frame work happens in `PipelineWorker` on its own
threads, so the window stays responsive whatever the model's speed.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from PyQt6.QtCore import (
    QMessageLogContext,
    QStandardPaths,
    Qt,
    QTimer,
    QtMsgType,
    pyqtSignal,
    qInstallMessageHandler,
)
from PyQt6.QtGui import QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QKeySequence, QPalette, QShortcut
from PyQt6.QtWidgets import QApplication, QFileDialog, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from reenact.app.avatars import Avatar, AvatarLibrary
from reenact.app.cpu import CpuMeter
from reenact.app.framing import Framing
from reenact.app.settings import APPLICATION, ORGANIZATION, data_dir, load_settings, save_settings
from reenact.app.sources import check_stream_url
from reenact.app.widgets.controls import ControlPanel
from reenact.app.widgets.gallery import AvatarGallery
from reenact.app.widgets.image_view import ImageView
from reenact.app.widgets.notice import NoticeBar
from reenact.app.widgets.report import ReportDialog
from reenact.app.widgets.stats import StatsBar
from reenact.app.worker import OutputFormat, PipelineWorker, SourceSpec, WorkerOptions
from reenact.engine.assets import DEFAULT_CLIP, DEFAULT_WEIGHTS, IMAGE_SUFFIXES
from reenact.engine.errors import ReenactError

log = logging.getLogger(__name__)

VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v);;All files (*)"
IMAGE_FILTER = f"Images ({' '.join('*' + s for s in IMAGE_SUFFIXES)})"


@dataclass(frozen=True, slots=True)
class AppOptions:
    """Choices from the command line; they win over the remembered settings for this run."""

    driving: Path | None = None
    camera: int | None = None
    stream: str | None = None  # a phone or network camera's URL (`--camera URL`)
    avatar: Path | None = None
    backend: str = "auto"
    weights: Path = DEFAULT_WEIGHTS
    precision: str = "auto"
    virtual_camera_backend: str | None = None
    probe_cameras: bool = True  # look for cameras at start (tests turn it off: probing is slow without devices)


class MainWindow(QMainWindow):
    cameras_found = pyqtSignal(list)
    avatar_added = pyqtSignal(object, str)  # the Avatar added (None when refused), the reason it was refused
    report_ready = pyqtSignal(str, str)  # why the virtual camera failed, the set-up report

    def __init__(self, options: AppOptions | None = None) -> None:
        super().__init__()
        self.options = options or AppOptions()
        self.settings = load_settings()
        self.library = AvatarLibrary(data_dir() / "avatars")
        self.worker = PipelineWorker(WorkerOptions(self.options.backend, self.options.weights,
                                                   self.options.virtual_camera_backend, self.options.precision), self)
        self.current_avatar: Path | None = None
        self.cameras: list[int] = []
        self.video_path: Path | None = None
        self.stream_url = ""
        self.frames_received = 0
        self.passthrough = False
        self.report = ReportDialog(self)
        self._backend = ("", "")  # what animates the avatar, and why (for the set-up report)
        self._vcam_failure = ""
        self._adder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reenact-avatar-check")
        self._vcam_device = ""
        self._recording = ""
        self._closed = False
        self.setWindowTitle("reenact")
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        self._shortcuts()
        self._restore()
        self.worker.start()
        self._cpu = CpuMeter()
        self._cpu_timer = QTimer(self)
        self._cpu_timer.timeout.connect(lambda: self.stats.set_cpu(self._cpu.sample(), self._cpu.cores))
        self._cpu_timer.start(1000)

    # Layout ----------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.gallery = AvatarGallery()
        self.gallery.setMinimumWidth(150)
        self.controls = ControlPanel()
        self.controls.setMinimumWidth(self.controls.minimumSizeHint().width())
        self.driving_view = ImageView("No driving video yet")
        self.avatar_view = ImageView("Pick an avatar")
        self.driving_caption = QLabel("Driving")
        self.avatar_caption = QLabel("Avatar")
        for caption in (self.driving_caption, self.avatar_caption):
            caption.setObjectName("caption")
        self.notice = NoticeBar()

        previews = QSplitter(Qt.Orientation.Horizontal)
        for caption, view in ((self.driving_caption, self.driving_view), (self.avatar_caption, self.avatar_view)):
            holder = QWidget()
            box = QVBoxLayout(holder)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(4)
            box.addWidget(caption)
            box.addWidget(view, 1)
            previews.addWidget(holder)
        previews.setChildrenCollapsible(False)
        centre = QWidget()
        box = QVBoxLayout(centre)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.notice)
        box.addWidget(previews, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.gallery)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.controls)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([280, 900, 290])
        self.splitter.setChildrenCollapsible(False)
        outer = QWidget()
        layout = QVBoxLayout(outer)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(self.splitter)
        self.setCentralWidget(outer)
        self.stats = StatsBar()
        self.setStatusBar(self.stats)
        self.resize(1440, 640)

    def _connect(self) -> None:
        w, c = self.worker, self.controls
        w.result_ready.connect(self._on_result)
        w.message.connect(self.notice.show_message)
        w.backend_ready.connect(self.stats.set_mode)
        w.backend_ready.connect(self._on_backend)
        w.virtual_camera_failed.connect(self.show_setup_report)
        w.passthrough_changed.connect(self._on_passthrough)
        self.report_ready.connect(self._on_report)
        self.report.again_button.clicked.connect(lambda: self.show_setup_report(self._vcam_failure))
        w.source_ready.connect(lambda text: self.driving_caption.setText(f"Driving · {text}"))
        w.source_ended.connect(self._on_source_ended)
        w.avatar_ready.connect(self._on_avatar_ready)
        w.virtual_camera_changed.connect(self._on_virtual_camera)
        w.recording_changed.connect(self._on_recording)
        self.gallery.avatar_chosen.connect(self.choose_avatar)
        self.gallery.add_requested.connect(self._add_avatar_dialog)
        self.gallery.remove_requested.connect(self.remove_avatar)
        c.source_combo.activated.connect(lambda _: self._source_picked())
        c.refresh_button.clicked.connect(self.refresh_cameras)
        self.cameras_found.connect(self._on_cameras_found)
        self.avatar_added.connect(self._on_avatar_added)
        c.open_video_button.clicked.connect(self._open_video_dialog)
        c.connect_button.clicked.connect(self._connect_stream)
        c.url_edit.returnPressed.connect(self._connect_stream)
        c.calibrate_button.clicked.connect(self.calibrate)
        c.neutral_button.clicked.connect(self.neutral_from_recent)
        c.motion_group.buttonToggled.connect(lambda *_: self._motion_changed())
        c.paste_group.buttonToggled.connect(lambda *_: self._paste_changed())
        c.mirror_check.toggled.connect(self._mirror_changed)
        c.landmarks_check.toggled.connect(lambda on: self._remember(landmarks=on))
        c.smoothing_slider.valueChanged.connect(self._smoothing_changed)
        c.size_combo.currentIndexChanged.connect(lambda _: self._output_changed())
        c.fps_combo.currentIndexChanged.connect(lambda _: self._output_changed())
        c.framing_combo.currentIndexChanged.connect(lambda _: self._framing_changed())
        c.zoom_slider.valueChanged.connect(lambda _: self._framing_changed())
        c.offset_slider.valueChanged.connect(lambda _: self._framing_changed())
        c.passthrough_button.toggled.connect(self.set_passthrough)
        c.vcam_button.toggled.connect(self.set_virtual_camera)
        c.record_button.toggled.connect(self._record_toggled)

    def _shortcuts(self) -> None:
        c = self.controls
        keys = {
            "X": self.calibrate,
            "F": self.neutral_from_recent,
            "0": c.passthrough_button.toggle,
            "M": c.mirror_check.toggle,
            "L": c.landmarks_check.toggle,
            "P": lambda: (c.crop_radio if c.full_radio.isChecked() else c.full_radio).setChecked(True),
            "V": c.vcam_button.toggle,
            "Ctrl+R": c.record_button.toggle,
            "Ctrl+O": self._open_video_dialog,
            "Ctrl+Q": self.close,
        }
        for n in range(1, 10):
            keys[str(n)] = lambda n=n: self.gallery.choose_index(n - 1)
        self._shortcut_objects = [QShortcut(QKeySequence(k), self, activated=fn) for k, fn in keys.items()]

    # Start-up: remembered settings, then the command line ------------------------------------------------------
    def _restore(self) -> None:
        s, c = self.settings, self.controls
        framing_widgets = (c.framing_combo, c.zoom_slider, c.offset_slider)
        for widget in (c.mirror_check, c.landmarks_check, c.smoothing_slider, c.size_combo, c.fps_combo,
                       *framing_widgets):
            widget.blockSignals(True)
        c.motion_group.blockSignals(True)
        c.paste_group.blockSignals(True)
        (c.absolute_radio if s.motion == "absolute" else c.relative_radio).setChecked(True)
        (c.full_radio if s.paste else c.crop_radio).setChecked(True)
        c.mirror_check.setChecked(s.mirror)
        c.landmarks_check.setChecked(s.landmarks)
        c.smoothing_slider.setValue(s.smoothing)
        c._show_smoothing(s.smoothing)
        c.select_output(s.output_width, s.output_height, s.fps)
        c.select_framing(_remembered_framing(s.framing, s.zoom, s.offset))
        for widget in (c.mirror_check, c.landmarks_check, c.smoothing_slider, c.size_combo, c.fps_combo,
                       c.motion_group, c.paste_group, *framing_widgets):
            widget.blockSignals(False)
        if s.geometry:
            self.restoreGeometry(s.geometry)
        if s.splitter:
            self.splitter.restoreState(s.splitter)

        w = self.worker
        w.set_mirror(s.mirror)
        w.set_motion(s.motion)
        w.set_paste(s.paste)
        w.set_smoothing(s.smoothing)
        w.set_framing(c.framing())
        self._output_changed(remember=False)

        self.cameras = self._probe_cameras() if self.options.probe_cameras else []
        if s.video and Path(s.video).is_file():
            self.video_path = Path(s.video)
        self.stream_url = self.options.stream or s.stream_url
        c.url_edit.setText(self.stream_url)
        spec = self._initial_source()
        if spec.kind == "file":
            self.video_path = spec.path
        self._fill_sources(spec)
        self.worker.set_source(spec)

        avatar = self.options.avatar or (Path(s.avatar) if s.avatar and Path(s.avatar).is_file() else None)
        avatars = self.library.avatars()
        if avatar is None and avatars:
            avatar = avatars[0].path
        self.gallery.set_avatars(avatars, avatar)
        if avatar is not None:
            self.choose_avatar(avatar)

    def _initial_source(self) -> SourceSpec:
        o, s = self.options, self.settings
        if o.driving is not None:
            return SourceSpec("file", path=o.driving)
        if o.camera is not None:
            return SourceSpec("camera", camera=o.camera)
        if o.stream:
            return SourceSpec("stream", url=o.stream)
        if s.source == "camera" and s.camera in self.cameras:
            return SourceSpec("camera", camera=s.camera)
        if s.source == "stream" and s.stream_url:
            return SourceSpec("stream", url=s.stream_url)
        if s.source == "file" and self.video_path is not None:
            return SourceSpec("file", path=self.video_path)
        if self.cameras:
            return SourceSpec("camera", camera=self.cameras[0])
        self.notice.show_message("info", "No camera found: the avatar follows the sample clip. Plug in a camera "
                                         "and press ⟳, or open a video.")
        return SourceSpec("file", path=self.video_path or DEFAULT_CLIP)

    def _probe_cameras(self) -> list[int]:
        """Indices of the cameras that open; OpenCV's warnings about the ones that do not are kept quiet."""
        import cv2

        from reenact.app.sources import list_cameras

        previous = cv2.getLogLevel()
        cv2.setLogLevel(0)  # silent
        try:
            return list_cameras()
        finally:
            cv2.setLogLevel(previous)

    def _fill_sources(self, current: SourceSpec) -> None:
        combo = self.controls.source_combo
        combo.blockSignals(True)
        combo.clear()
        cameras = sorted(set(self.cameras) | ({current.camera} if current.kind == "camera" else set()))
        for index in cameras:
            combo.addItem(f"Camera {index}", SourceSpec("camera", camera=index))
        if self.video_path is not None:
            combo.addItem(f"Video · {self.video_path.name}", SourceSpec("file", path=self.video_path))
        if self.stream_url:
            combo.addItem(f"Stream · {self.stream_url}", SourceSpec("stream", url=self.stream_url))
        if combo.count() == 0:
            combo.addItem("No camera found", None)
        for i in range(combo.count()):
            if combo.itemData(i) == current:
                combo.setCurrentIndex(i)
        combo.blockSignals(False)

    # Actions ---------------------------------------------------------------------------------------------------
    def choose_avatar(self, path: Path) -> None:
        """Switch avatar; the worker prepares it between two frames, so it shows from the next frame on."""
        self.current_avatar = Path(path)
        self.gallery.select(self.current_avatar)
        self.worker.set_avatar(self.current_avatar)

    def add_avatar(self, path: Path) -> None:
        """Add an image to the user's avatars and switch to it; a no-face image is refused with a message.

        Finding the face takes up to half a second (the face model loads on first use), so it runs on a helper
        thread and `avatar_added` reports the outcome.
        """
        path = Path(path)
        self.notice.show_message("info", f"Looking for a face in {path.name}…")

        def check_and_copy() -> None:
            try:
                avatar, error = self.library.add(path), ""
            except ReenactError as exc:
                avatar, error = None, str(exc)
            try:
                self.avatar_added.emit(avatar, error)
            except RuntimeError:  # the window closed meanwhile
                pass

        self._adder.submit(check_and_copy)

    def _on_avatar_added(self, avatar: Avatar | None, error: str) -> None:
        if avatar is None:
            self.notice.show_message("error", f"Not added: {error}")
            return
        self.gallery.set_avatars(self.library.avatars(), avatar.path)
        self.choose_avatar(avatar.path)
        self.notice.show_message("info", f"Added {avatar.name}.")

    def remove_avatar(self, path: Path) -> None:
        try:
            self.library.remove(path)
        except ReenactError as exc:
            self.notice.show_message("error", str(exc))
            return
        avatars = self.library.avatars()
        if self.current_avatar == Path(path) and avatars:
            self.choose_avatar(avatars[0].path)
        self.gallery.set_avatars(avatars, self.current_avatar)
        self.notice.show_message("info", f"Removed {Path(path).stem}.")

    def calibrate(self) -> None:
        self.worker.calibrate()

    def neutral_from_recent(self) -> None:
        """F: the recent driving face closest to the avatar's expression becomes the neutral pose."""
        self.worker.neutral_from_recent()

    def set_passthrough(self, on: bool) -> None:
        """Send the real camera to the call (on) or the avatar (off)."""
        self.worker.set_passthrough(on)

    def set_source(self, spec: SourceSpec) -> None:
        if spec.kind == "file":
            self.video_path = spec.path
        if spec.kind == "stream":
            self.stream_url = spec.url
        self._fill_sources(spec)
        self.worker.set_source(spec)
        self._remember(source=spec.kind, camera=spec.camera if spec.kind == "camera" else self.settings.camera,
                       video=str(self.video_path or ""), stream_url=self.stream_url)

    def show_setup_report(self, why: str) -> None:
        """The doctor's report, made on a helper thread (reading the weights takes a moment), then shown."""
        self._vcam_failure = why
        self.report.again_button.setEnabled(False)
        from reenact.app.doctor import DoctorOptions, run_doctor

        options = DoctorOptions(weights=self.options.weights, cameras=tuple(self.cameras),
                                backend=self._backend if self._backend[0] else None,
                                qt_platform=QApplication.platformName())

        def check() -> None:
            try:
                text = run_doctor(options).text()
            except Exception as exc:  # the report is help, never a reason to fail
                log.exception("the set-up report failed")
                text = f"The checks could not run: {exc}"
            try:
                self.report_ready.emit(why, text)
            except RuntimeError:  # the window closed meanwhile
                pass

        self._adder.submit(check)

    def _on_report(self, why: str, text: str) -> None:
        self.report.show_report(why, text)

    def refresh_cameras(self) -> None:
        """Look for cameras again on a helper thread (opening a real camera can take a second)."""
        if not self.controls.refresh_button.isEnabled():
            return
        self.controls.refresh_button.setEnabled(False)

        def probe() -> None:
            found = self._probe_cameras()
            try:
                self.cameras_found.emit(found)
            except RuntimeError:  # the window closed meanwhile
                pass

        threading.Thread(target=probe, name="reenact-camera-probe", daemon=True).start()

    def _on_cameras_found(self, cameras: list[int]) -> None:
        self.cameras = cameras
        self.controls.refresh_button.setEnabled(True)
        current = self.controls.source_combo.currentData()
        self._fill_sources(current if isinstance(current, SourceSpec) else SourceSpec("camera"))
        found = ", ".join(str(i) for i in self.cameras) or "none"
        self.notice.show_message("info", f"Cameras found: {found}.")

    def set_virtual_camera(self, on: bool) -> None:
        self.worker.set_virtual_camera(on)

    def start_recording(self, path: Path) -> None:
        self.worker.start_recording(path)

    def stop_recording(self) -> None:
        self.worker.stop_recording()

    # Reactions to the controls ----------------------------------------------------------------------------------
    def _connect_stream(self) -> None:
        text = self.controls.url_edit.text()
        try:
            url = check_stream_url(text)
        except ReenactError as exc:
            self.notice.show_message("error", str(exc))
            return
        self.notice.show_message("info", f"Connecting to {url}…")
        self.set_source(SourceSpec("stream", url=url))

    def _source_picked(self) -> None:
        spec = self.controls.source_combo.currentData()
        if isinstance(spec, SourceSpec):
            self.set_source(spec)

    def _open_video_dialog(self) -> None:
        start = str(self.video_path.parent) if self.video_path else QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.MoviesLocation)
        name, _ = QFileDialog.getOpenFileName(self, "Drive the avatar from a video", start, VIDEO_FILTER)
        if name:
            self.set_source(SourceSpec("file", path=Path(name)))

    def _add_avatar_dialog(self) -> None:
        start = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        names, _ = QFileDialog.getOpenFileNames(self, "Add avatars", start, IMAGE_FILTER)
        for name in names:
            self.add_avatar(Path(name))

    def _motion_changed(self) -> None:
        mode = "absolute" if self.controls.absolute_radio.isChecked() else "relative"
        self.worker.set_motion(mode)
        self._remember(motion=mode)

    def _paste_changed(self) -> None:
        paste = self.controls.full_radio.isChecked()
        self.worker.set_paste(paste)
        self._remember(paste=paste)

    def _mirror_changed(self, on: bool) -> None:
        self.worker.set_mirror(on)
        self._remember(mirror=on)

    def _smoothing_changed(self, value: int) -> None:
        self.worker.set_smoothing(value)
        self._remember(smoothing=value)

    def _output_changed(self, remember: bool = True) -> None:
        w, h, fps = self.controls.output()
        self.worker.set_output(OutputFormat(w, h, fps))
        self._show_output_caption()
        if remember:
            self._remember(output_width=w, output_height=h, fps=fps)

    def _framing_changed(self) -> None:
        framing = self.controls.framing()
        self.worker.set_framing(framing)
        self._remember(framing=framing.mode, zoom=round(framing.zoom * 100), offset=round(framing.offset * 100))

    def _record_toggled(self, on: bool) -> None:
        if not on:
            self.stop_recording()
            return
        from datetime import datetime

        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
        default = Path(folder) / f"reenact-{datetime.now():%Y%m%d-%H%M%S}.mp4"
        name, _ = QFileDialog.getSaveFileName(self, "Record to", str(default), "MP4 video (*.mp4)")
        if not name:
            self._set_checked(self.controls.record_button, False)
            return
        path = Path(name) if name.lower().endswith(".mp4") else Path(name + ".mp4")
        self.start_recording(path)

    # Reactions to the worker ------------------------------------------------------------------------------------
    def _on_result(self) -> None:
        result = self.worker.results.take(0)
        if result is not None:
            self.frames_received += 1
            show = self.controls.landmarks_check.isChecked()
            self.driving_view.set_frame(result.driving, result.landmarks if show else None)
            self.stats.show_result(result)
        frame = self.worker.preview.take()
        if frame is not None:
            self.avatar_view.set_frame(frame.image)

    def _on_backend(self, text: str, why: str) -> None:
        self._backend = (text, why)

    def _on_avatar_ready(self, path: str) -> None:
        self._remember(avatar=path)

    def _on_source_ended(self, why: str) -> None:
        self.driving_view.clear(why)

    def _on_virtual_camera(self, on: bool, device: str) -> None:
        self._vcam_device = device if on else ""
        self._set_checked(self.controls.vcam_button, on)
        self.stats.set_outputs(self._vcam_device, self._recording, self.passthrough)

    def _on_recording(self, on: bool, path: str) -> None:
        self._recording = path if on else ""
        self._set_checked(self.controls.record_button, on)
        self.controls.record_button.setText("Stop recording  (Ctrl+R)" if on else "Record…  (Ctrl+R)")
        self.stats.set_outputs(self._vcam_device, self._recording, self.passthrough)

    def _on_passthrough(self, on: bool) -> None:
        self.passthrough = on
        self._set_checked(self.controls.passthrough_button, on)
        self._show_output_caption()
        self.stats.set_outputs(self._vcam_device, self._recording, on)

    @staticmethod
    def _set_checked(button: QWidget, on: bool) -> None:
        button.blockSignals(True)
        button.setChecked(on)  # type: ignore[attr-defined]
        button.blockSignals(False)

    # Drag and drop of avatar images ------------------------------------------------------------------------------
    @staticmethod
    def _dropped_images(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls()
                if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES]

    def dragEnterEvent(self, event: QDragEnterEvent | None) -> None:
        if event is not None and self._dropped_images(event):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragEnterEvent | None) -> None:  # type: ignore[override]
        if event is not None and self._dropped_images(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent | None) -> None:
        if event is None:
            return
        paths = self._dropped_images(event)
        if not paths:
            return
        event.acceptProposedAction()
        for path in paths:
            self.add_avatar(path)

    def _show_output_caption(self) -> None:
        """Above the output preview: which picture is live in the call, the avatar or the real camera."""
        w, h, fps = self.controls.output()
        if self.passthrough:
            self.avatar_caption.setText(f"LIVE: your camera (passthrough) · {w}×{h}, {fps} fps · 0 for the avatar")
            self.avatar_caption.setStyleSheet("color:#ff6b6b;")
        else:
            self.avatar_caption.setText(f"LIVE: avatar · output {w}×{h}, {fps} fps")
            self.avatar_caption.setStyleSheet("")

    # Persistence and shutdown ---------------------------------------------------------------------------------
    def _remember(self, **changes: object) -> None:
        self.settings = replace(self.settings, **changes)  # type: ignore[arg-type]

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if not self._closed:
            self._closed = True
            self._remember(geometry=bytes(self.saveGeometry()), splitter=bytes(self.splitter.saveState()))
            save_settings(self.settings)
            self._cpu_timer.stop()
            self.report.close()
            self._adder.shutdown(wait=False, cancel_futures=True)
            self.worker.stop()
        if event is not None:
            event.accept()


def _remembered_framing(mode: str, zoom: int, offset: int) -> Framing:
    """The saved framing, or the default one when a hand-edited or older file holds values out of range."""
    try:
        return Framing(mode, zoom / 100, offset / 100)
    except ValueError:
        return Framing()


def prepare_qt_environment() -> None:
    """Undo what importing OpenCV's Qt5 build does to the environment, before PyQt6 starts."""
    import cv2  # noqa: F401  (imported first so its environment changes happen now, not later)

    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        os.environ.pop(name, None)


_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
# Platform plugins that cannot do something harmless say so on every window change (offscreen: each resize).
_QT_NOISE = ("This plugin does not support",)


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str | None) -> None:
    """Qt's messages go through logging like reenact's own: shown as one-line warnings, the noise only with -v."""
    text = message or ""
    level = logging.INFO if text.startswith(_QT_NOISE) else _QT_LEVELS.get(kind, logging.WARNING)
    log.log(level, "Qt: %s", text)


def make_application(argv: list[str]) -> QApplication:
    prepare_qt_environment()
    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication(argv)
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("reenact")
    apply_theme(app)
    return app


def apply_theme(app: QApplication) -> None:
    """A dark theme: the pictures are what matters, the chrome should recede."""
    app.setStyle("Fusion")
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: QColor(36, 38, 42),
        QPalette.ColorRole.WindowText: QColor(226, 228, 232),
        QPalette.ColorRole.Base: QColor(28, 29, 33),
        QPalette.ColorRole.AlternateBase: QColor(44, 46, 51),
        QPalette.ColorRole.Text: QColor(226, 228, 232),
        QPalette.ColorRole.Button: QColor(50, 53, 59),
        QPalette.ColorRole.ButtonText: QColor(226, 228, 232),
        QPalette.ColorRole.Highlight: QColor(64, 132, 214),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.ToolTipBase: QColor(50, 53, 59),
        QPalette.ColorRole.ToolTipText: QColor(226, 228, 232),
        QPalette.ColorRole.PlaceholderText: QColor(140, 144, 150),
    }
    for role, color in colors.items():
        palette.setColor(role, color)
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(120, 123, 130))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(120, 123, 130))
    app.setPalette(palette)
    app.setStyleSheet(
        "QLabel#caption { color:#aeb4bd; font-weight:600; padding:2px 2px; }"
        "QLabel#sectionTitle { font-weight:600; padding:2px; }"
        "QLabel#hint { color:#8c9199; font-size:11px; }"
        "QGroupBox { font-weight:600; border:1px solid #3a3d44; border-radius:6px; margin-top:10px; padding:6px; }"
        "QGroupBox::title { subcontrol-origin: margin; left:8px; padding:0 4px; }"
        "QPushButton:checked { background:#b8323f; color:white; }"
        "QStatusBar QLabel { color:#c3c8cf; }"
    )
