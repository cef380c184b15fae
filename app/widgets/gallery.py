"""The avatar picker: thumbnails of the bundled and the user's avatars, with add and remove buttons."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QImage, QImageReader, QPixmap
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from reenact.app.avatars import Avatar

THUMB = 112
PATH_ROLE = Qt.ItemDataRole.UserRole
BUNDLED_ROLE = Qt.ItemDataRole.UserRole + 1


def thumbnail(path: Path, size: int = THUMB) -> QPixmap:
    """A square thumbnail centred on the image (reads a downscaled copy, so large photos stay cheap)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and max(full.width(), full.height()) > 4 * size:
        reader.setScaledSize(full.scaled(4 * size, 4 * size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        image = QImage(size, size, QImage.Format.Format_RGB32)
        image.fill(Qt.GlobalColor.darkGray)
    scaled = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                          Qt.TransformationMode.SmoothTransformation)
    x, y = (scaled.width() - size) // 2, (scaled.height() - size) // 2
    return QPixmap.fromImage(scaled.copy(x, max(0, y // 2), size, size))  # bias upwards: faces sit high in portraits


class AvatarGallery(QWidget):
    avatar_chosen = pyqtSignal(Path)
    add_requested = pyqtSignal()
    remove_requested = pyqtSignal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("Avatars")
        title.setObjectName("sectionTitle")
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 16, THUMB + 30))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(2)
        self.list.itemClicked.connect(self._clicked)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add a portrait (or drop an image file onto the window)")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove an avatar you added (bundled avatars stay)")
        self.remove_button.clicked.connect(self._remove_clicked)
        hint = QLabel("Drop a portrait here to add it")
        hint.setObjectName("hint")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addWidget(hint)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_avatars(self, avatars: list[Avatar], current: Path | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for avatar in avatars:
            item = QListWidgetItem(QIcon(thumbnail(avatar.path)), avatar.name)
            item.setData(PATH_ROLE, str(avatar.path))
            item.setData(BUNDLED_ROLE, avatar.bundled)
            item.setToolTip(f"{avatar.path}\n{'bundled' if avatar.bundled else 'your avatar'}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        if current is not None:
            self.select(current)
        self._update_buttons()

    def paths(self) -> list[Path]:
        return [Path(self.list.item(i).data(PATH_ROLE)) for i in range(self.list.count())]

    def select(self, path: Path) -> bool:
        """Highlight `path` without emitting avatar_chosen (the caller already switched to it)."""
        for i, p in enumerate(self.paths()):
            if p == Path(path):
                self.list.blockSignals(True)
                self.list.setCurrentRow(i)
                self.list.blockSignals(False)
                self._update_buttons()
                return True
        self.list.clearSelection()
        return False

    def choose_index(self, index: int) -> None:
        item = self.list.item(index)
        if item is not None:
            self.list.setCurrentItem(item)
            self._clicked(item)

    def _clicked(self, item: QListWidgetItem) -> None:
        self._update_buttons()
        self.avatar_chosen.emit(Path(item.data(PATH_ROLE)))

    def _remove_clicked(self) -> None:
        item = self.list.currentItem()
        if item is not None and not item.data(BUNDLED_ROLE):
            self.remove_requested.emit(Path(item.data(PATH_ROLE)))

    def _update_buttons(self) -> None:
        item = self.list.currentItem()
        self.remove_button.setEnabled(item is not None and not item.data(BUNDLED_ROLE))
