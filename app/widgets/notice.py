"""A message strip above the previews: errors stay until closed, information fades after a few seconds.

Used instead of modal dialogs, so a message never stops the live preview or waits for a click.
"""

from __future__ import annotations

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "info": "background:#1f3b57; color:#dcecff; border:1px solid #2f5d8a;",
    "warning": "background:#4d3b12; color:#ffe9b3; border:1px solid #8a6a1f;",
    "error": "background:#5a1f24; color:#ffd9dc; border:1px solid #9a3540;",
}


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""
        self._label = QLabel()
        self._label.setWordWrap(True)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.history: list[tuple[str, str]] = []
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        text = text[:1].upper() + text[1:]  # engine messages are written to follow "error:" on a command line
        self.history.append((level, text))
        self._label.setText(text)
        self.setStyleSheet(f"NoticeBar {{{STYLES.get(level, STYLES['info'])} border-radius:4px;}}"
                           "QLabel { background: transparent; border: none; }")
        self.show()
        if level == "info":
            self._timer.start(6000)
        else:
            self._timer.stop()

    def text(self) -> str:
        return self._label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
