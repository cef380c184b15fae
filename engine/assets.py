"""Files that ship with reenact (avatars, a driving clip, default weights) and image loading with clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.errors import ReenactError

# The package's own path: `reenact/assets` beside `reenact/engine`, in a checkout (the folders) and in an installed
# wheel (package data) alike.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
AVATARS_DIR = ASSETS_DIR / "avatars"
CLIPS_DIR = ASSETS_DIR / "clips"
DEFAULT_WEIGHTS = ASSETS_DIR / "weights" / "reenact.pt"
DEFAULT_CLIP = CLIPS_DIR / "franck_talk.mp4"
DEFAULT_AVATAR = AVATARS_DIR / "mona_lisa.jpg"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def bundled_avatars() -> list[Path]:
    return sorted(p for p in AVATARS_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: str | Path) -> NDArray[np.uint8]:
    """An image file as RGB uint8; one-line ReenactError for missing or unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise ReenactError("image not found", path)
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ReenactError("not a readable image (corrupt or unsupported format)", path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
