"""A live picture that keeps its aspect ratio at any widget size, with optional landmark dots on top."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget


def to_qimage(rgb: NDArray[np.uint8]) -> QImage:
    """An RGB array as a QImage that owns its pixels (the array may be reused by the next frame)."""
    rgb = np.ascontiguousarray(rgb[:, :, :3])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImageView(QWidget):
    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = placeholder
        self._image: QImage | None = None
        self._array: NDArray[np.uint8] | None = None
        self._points: NDArray[np.float32] | None = None
        self.frames_shown = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    def set_frame(self, rgb: NDArray[np.uint8], points: NDArray[np.float32] | None = None) -> None:
        self._array = rgb
        self._image = to_qimage(rgb)
        self._points = points
        self.frames_shown += 1
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        if placeholder is not None:
            self.placeholder = placeholder
        self._image = self._array = self._points = None
        self.update()

    def current_frame(self) -> NDArray[np.uint8] | None:
        return self._array

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 25, 28))
        if self._image is None:
            painter.setPen(QColor(140, 144, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        target = QRectF((self.width() - iw * scale) / 2, (self.height() - ih * scale) / 2, iw * scale, ih * scale)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        if self._points is not None and len(self._points):
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(80, 220, 160, 200), max(1.5, 2.0 * scale)))
            painter.drawPoints([QPointF(target.x() + x * scale, target.y() + y * scale) for x, y in self._points])
