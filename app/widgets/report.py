"""The set-up report (`reenact doctor`'s) in a window of its own, shown when the virtual camera cannot start.

A one-line "no driver" leaves the user guessing which of several steps is missing; the report names each step
and its fix, and can be copied into a terminal or a support request.
"""

from __future__ import annotations

from PyQt6.QtGui import QFontDatabase
from PyQt6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class ReportDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("reenact · virtual camera set-up")
        self.setModal(False)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.again_button = QPushButton("Check again")
        self.again_button.setToolTip("Run the checks again, e.g. after loading the driver")
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.again_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.text_view, 1)
        layout.addLayout(buttons)
        self.resize(760, 360)

    def show_report(self, why: str, report: str) -> None:
        self.headline.setText(f"The virtual camera could not start: {why}\nWhat this machine has, and the fix for "
                              "each problem (the same as `reenact doctor`):")
        self.text_view.setPlainText(report)
        self.again_button.setEnabled(True)
        self.show()
        self.raise_()

    def text(self) -> str:
        return self.text_view.toPlainText()
