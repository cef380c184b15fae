"""The control panel: driving source, animation settings and outputs. Widgets only; the window wires them."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from reenact.app.framing import OFFSET_RANGE, OUTPUT_FPS, OUTPUT_SIZES, ZOOM_RANGE, Framing


class ControlPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        # Driving source
        source = QGroupBox("Driving source")
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("A camera, or a video file (played in a loop)")
        self.refresh_button = QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Look for cameras again")
        self.open_video_button = QPushButton("Open video…")
        self.open_video_button.setToolTip("Drive the avatar from a video file (Ctrl+O)")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("Phone camera: http://…/video or rtsp://…")
        self.url_edit.setToolTip("A phone or network camera's stream (MJPEG over HTTP, or RTSP), as webcam apps "
                                 "such as IP Webcam or DroidCam show it; reconnects by itself after a drop")
        self.connect_button = QPushButton("Connect")
        self.connect_button.setToolTip("Drive the avatar from the stream at this URL")
        row = QHBoxLayout()
        row.addWidget(self.source_combo, 1)
        row.addWidget(self.refresh_button)
        stream_row = QHBoxLayout()
        stream_row.addWidget(self.url_edit, 1)
        stream_row.addWidget(self.connect_button)
        box = QVBoxLayout(source)
        box.addLayout(row)
        box.addWidget(self.open_video_button)
        box.addLayout(stream_row)
        layout.addWidget(source)

        # Animation
        motion = QGroupBox("Animation")
        self.calibrate_button = QPushButton("Calibrate  (X)")
        self.calibrate_button.setToolTip("Look straight with a neutral face and press X: this pose becomes the "
                                         "reference the avatar moves from")
        self.neutral_button = QPushButton("Neutral from recent  (F)")
        self.neutral_button.setToolTip("Of your faces in the last few seconds, the one whose expression is closest "
                                       "to the avatar's becomes the neutral pose")
        self.relative_radio, self.absolute_radio, self.motion_group = self._choice(
            ("Relative", "The avatar keeps its own face shape and copies your movements"),
            ("Absolute", "The avatar takes your face shape and position directly"))
        self.full_radio, self.crop_radio, self.paste_group = self._choice(
            ("Portrait", "Paste the animated face back into the full avatar image (P)"),
            ("Face only", "Show only the animated face crop (P)"))
        self.mirror_check = QCheckBox("Mirror camera  (M)")
        self.landmarks_check = QCheckBox("Show landmarks  (L)")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 100)
        self.smoothing_slider.setValue(50)
        self.smoothing_slider.setToolTip("Steadier (right) or snappier (left) motion; far left switches smoothing off")
        self.smoothing_label = QLabel()
        self.smoothing_label.setMinimumWidth(32)
        self.smoothing_slider.valueChanged.connect(self._show_smoothing)
        self._show_smoothing(self.smoothing_slider.value())
        form = QFormLayout(motion)
        form.addRow(_row(self.calibrate_button, self.neutral_button))
        form.addRow("Motion", _row(self.relative_radio, self.absolute_radio))
        form.addRow("Show", _row(self.full_radio, self.crop_radio))
        form.addRow("Smoothing", _row(self.smoothing_slider, self.smoothing_label))
        form.addRow(self.mirror_check)
        form.addRow(self.landmarks_check)
        layout.addWidget(motion)

        # Outputs
        output = QGroupBox("Output")
        self.size_combo = QComboBox()
        for w, h in OUTPUT_SIZES:
            self.size_combo.addItem(f"{w} × {h}", f"{w}x{h}")
        self.fps_combo = QComboBox()
        for fps in OUTPUT_FPS:
            self.fps_combo.addItem(f"{fps} fps", fps)
        self.framing_combo = QComboBox()
        self.framing_combo.addItem("Head and shoulders", "head")
        self.framing_combo.addItem("Whole portrait", "portrait")
        self.framing_combo.setToolTip("Head and shoulders: the avatar framed as a webcam shows a person; whole "
                                      "portrait: the entire picture")
        self.zoom_slider = QSlider(Qt.Orientation.Horizontal)
        self.zoom_slider.setRange(round(ZOOM_RANGE[0] * 100), round(ZOOM_RANGE[1] * 100))
        self.zoom_slider.setValue(100)
        self.zoom_slider.setToolTip("How large the face is in the frame (head and shoulders)")
        self.offset_slider = QSlider(Qt.Orientation.Horizontal)
        self.offset_slider.setRange(round(OFFSET_RANGE[0] * 100), round(OFFSET_RANGE[1] * 100))
        self.offset_slider.setValue(0)
        self.offset_slider.setInvertedAppearance(True)  # right moves the face up, as "higher" reads
        self.offset_slider.setToolTip("Where the face sits: further right is higher in the frame")
        self.passthrough_button = QPushButton("Be yourself  (0)")
        self.passthrough_button.setCheckable(True)
        self.passthrough_button.setToolTip("Passthrough: send your real camera to the call instead of the avatar, "
                                           "until pressed again (0)")
        self.vcam_button = QPushButton("Virtual camera  (V)")
        self.vcam_button.setCheckable(True)
        self.vcam_button.setToolTip("Send the avatar to a virtual webcam that Zoom, Meet, Teams or OBS can pick")
        self.record_button = QPushButton("Record…  (Ctrl+R)")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Record the output to an mp4 file")
        form = QFormLayout(output)
        form.addRow("Size", self.size_combo)
        form.addRow("Rate", self.fps_combo)
        form.addRow("Framing", self.framing_combo)
        form.addRow("Zoom", _row(self.zoom_slider, QLabel("Height"), self.offset_slider))
        form.addRow(_row(self.passthrough_button, self.vcam_button))
        form.addRow(self.record_button)
        layout.addWidget(output)

        hotkeys = QLabel("X calibrate · F neutral from recent · M mirror · P portrait/face · L landmarks · "
                         "0 passthrough · V virtual camera · 1–9 avatar · Ctrl+O video · Ctrl+R record")
        self.framing_combo.currentIndexChanged.connect(lambda _: self._enable_head_controls())
        hotkeys.setObjectName("hint")
        hotkeys.setWordWrap(True)
        layout.addWidget(hotkeys)
        layout.addStretch(1)

    def _choice(self, first: tuple[str, str], second: tuple[str, str]) -> tuple[QRadioButton, QRadioButton, QButtonGroup]:
        """Two exclusive radio buttons (label, tooltip), the first one checked."""
        group = QButtonGroup(self)
        buttons = []
        for label, tip in (first, second):
            button = QRadioButton(label)
            button.setToolTip(tip)
            group.addButton(button)
            buttons.append(button)
        buttons[0].setChecked(True)
        return buttons[0], buttons[1], group

    def _show_smoothing(self, value: int) -> None:
        self.smoothing_label.setText("off" if value == 0 else str(value))

    def select_output(self, width: int, height: int, fps: int) -> None:
        i = self.size_combo.findData(f"{width}x{height}")
        self.size_combo.setCurrentIndex(max(i, 0))
        j = self.fps_combo.findData(fps)
        self.fps_combo.setCurrentIndex(j if j >= 0 else self.fps_combo.findData(30))

    def select_framing(self, framing: Framing) -> None:
        self.framing_combo.setCurrentIndex(max(self.framing_combo.findData(framing.mode), 0))
        self.zoom_slider.setValue(round(framing.zoom * 100))
        self.offset_slider.setValue(round(framing.offset * 100))
        self._enable_head_controls()

    def framing(self) -> Framing:
        return Framing(str(self.framing_combo.currentData()), self.zoom_slider.value() / 100,
                       self.offset_slider.value() / 100)

    def _enable_head_controls(self) -> None:
        head = self.framing_combo.currentData() == "head"
        self.zoom_slider.setEnabled(head)
        self.offset_slider.setEnabled(head)

    def output(self) -> tuple[int, int, int]:
        w, h = str(self.size_combo.currentData()).split("x")
        return int(w), int(h), int(self.fps_combo.currentData())


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w)
    return holder
