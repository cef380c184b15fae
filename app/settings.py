"""What the app remembers between runs (last avatar, driving source, toggles, output, window geometry).

Stored with QSettings under the organisation "reenact". When REENACT_DATA_DIR is set (tests, portable installs),
everything lives in that folder instead, so a test run never touches the user's real settings.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QByteArray, QCoreApplication, QSettings, QStandardPaths

ORGANIZATION = "reenact"
APPLICATION = "reenact"
DATA_DIR_ENV = "REENACT_DATA_DIR"


def data_dir() -> Path:
    """The per-user data folder: $REENACT_DATA_DIR, else Qt's AppDataLocation for reenact."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    identify_application()
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def identify_application() -> None:
    """Qt's per-user locations and QSettings are named after the organisation and application."""
    if QCoreApplication.organizationName() != ORGANIZATION:
        QCoreApplication.setOrganizationName(ORGANIZATION)
    if QCoreApplication.applicationName() != APPLICATION:
        QCoreApplication.setApplicationName(APPLICATION)


def open_settings() -> QSettings:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return QSettings(str(Path(override) / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


@dataclass(frozen=True, slots=True)
class AppSettings:
    avatar: str = ""  # path of the last avatar ("" = the first bundled one)
    source: str = "auto"  # "camera" | "file" | "stream" | "auto" (a camera when one exists, else the sample clip)
    camera: int = 0
    video: str = ""
    stream_url: str = ""  # the last phone or network camera (http:// MJPEG or rtsp://)
    motion: str = "relative"  # "relative" | "absolute"
    mirror: bool = True
    paste: bool = True  # paste the animated face back into the full avatar (False: the face crop only)
    smoothing: int = 50  # 0 (off) … 100 (strongest)
    landmarks: bool = True  # draw the tracked landmarks on the camera preview
    output_width: int = 1280
    output_height: int = 720
    fps: int = 30
    framing: str = "head"  # "head" (head and shoulders) | "portrait" (the whole picture)
    zoom: int = 100  # head framing: percent of the default face size
    offset: int = 0  # head framing: the face this many percent of the frame height lower (negative: higher)
    geometry: bytes = b""
    splitter: bytes = b""


def _read(store: QSettings, name: str, default: object) -> object:
    if not store.contains(name):
        return default
    raw = store.value(name)
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, bytes):
            return bytes(raw) if isinstance(raw, QByteArray | bytes | bytearray) else default
        return str(raw)
    except (TypeError, ValueError):  # a hand-edited or older file: keep the default for that one setting
        return default


def load_settings(store: QSettings | None = None) -> AppSettings:
    store = store or open_settings()
    defaults = AppSettings()
    values = {f.name: _read(store, f.name, getattr(defaults, f.name)) for f in dataclasses.fields(AppSettings)}
    return AppSettings(**values)


def save_settings(settings: AppSettings, store: QSettings | None = None) -> None:
    store = store or open_settings()
    for f in dataclasses.fields(AppSettings):
        value = getattr(settings, f.name)
        store.setValue(f.name, QByteArray(value) if isinstance(value, bytes) else value)
    store.sync()
