"""The status bar's live figures: what runs the animation, FPS, the app's CPU use, end-to-end latency and per-stage
times."""

from __future__ import annotations

from PyQt6.QtWidgets import QLabel, QStatusBar, QWidget

from reenact.app.worker import WorkerResult
from reenact.engine.pipeline import FRAME_STAGES


class StatsBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode_label = QLabel("loading the model…")
        self.mode_label.setToolTip("What animates the avatar: the trained model (and its runtime) or the analytic warp")
        self.fps_label = QLabel("— fps")
        self.cpu_label = QLabel("CPU —")
        self.cpu_label.setToolTip("reenact's own CPU use, as a share of all cores: the rest is what the call and "
                                  "other programs have")
        self.latency_label = QLabel("latency —")
        self.latency_label.setToolTip("From reading a camera frame to handing the animated frame to the outputs "
                                      "(the virtual camera, the recording): now, and the p95 of the last 3 s")
        self.stages_label = QLabel("")
        self.stages_label.setToolTip("Milliseconds per frame: " + ", ".join(FRAME_STAGES))
        self.outputs_label = QLabel("")
        for label in (self.mode_label, self.fps_label, self.cpu_label, self.latency_label, self.stages_label,
                      self.outputs_label):
            label.setContentsMargins(6, 0, 6, 0)
            self.addPermanentWidget(label)

    def set_mode(self, text: str, reason: str = "") -> None:
        self.mode_label.setText(text)
        self.mode_label.setToolTip(reason or text)

    def set_cpu(self, percent: float, cores: int) -> None:
        """The app's CPU use: `percent` of the whole machine, which has `cores` cores."""
        shown = f"{percent:.0f}" if percent >= 10 else f"{percent:.1f}"  # a many-core machine: still not "0%"
        self.cpu_label.setText(f"CPU {shown}% of {cores} core{'s' if cores != 1 else ''}")

    def set_outputs(self, vcam: str, recording: str, passthrough: bool = False) -> None:
        parts = ([f"● cam {vcam}"] if vcam else []) + (["● REC"] if recording else []) + \
            (["● passthrough: your camera is live"] if passthrough else [])
        self.outputs_label.setText("  ".join(parts))
        self.outputs_label.setStyleSheet("color:#ff6b6b; font-weight:bold;" if parts else "")

    def show_result(self, result: WorkerResult) -> None:
        self.fps_label.setText(f"{result.fps:4.1f} fps")
        self.latency_label.setText(f"latency {result.latency_ms:3.0f} ms (p95 {result.latency_p95_ms:.0f})")
        t = result.timings_ms
        self.stages_label.setText("  ".join(f"{k} {t[k]:.1f}" for k in FRAME_STAGES if k in t) + " ms"
                                  if t else "no avatar")
        if result.animated and result.landmarks is None:
            self.stages_label.setText(self.stages_label.text() + "  · no face in view")
        elif result.clamped:
            self.stages_label.setText(self.stages_label.text() + "  · head turned too far: motion limited")
