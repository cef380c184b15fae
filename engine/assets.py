"""Files that ship with reenact (avatars, a driving clip, default weights) and image loading with clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.errors import ReenactError, require_file

# The package's own path: `reenact/assets` beside `reenact/engine`, in a checkout (the folders) and in an installed
# wheel (package data) alike.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
AVATARS_DIR = ASSETS_DIR / "avatars"
CLIPS_DIR = ASSETS_DIR / "clips"
DEFAULT_WEIGHTS = ASSETS_DIR / "weights" / "reenact.pt"
DEFAULT_CLIP = CLIPS_DIR / "franck_talk.mp4"
DEFAULT_AVATAR = AVATARS_DIR / "mona_lisa.jpg"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
BACKDROP = 128  # mid-grey behind a transparent avatar: no colour for the face to pick up, no edge to warp

log = logging.getLogger(__name__)


def bundled_avatars() -> list[Path]:
    return sorted(p for p in AVATARS_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: str | Path) -> NDArray[np.uint8]:
    """An image file as RGB uint8; one-line ReenactError for missing or unreadable files.

    Transparent parts (PNG, WebP or GIF with alpha) are shown on mid-grey, said in one warning: the colour hidden
    under them is whatever the editor left there, often black or a stray green.
    """
    path = require_file(path, "image")
    data = np.fromfile(path, dtype=np.uint8)
    rgb, alpha = _decode_gif(path) if data[:6].tobytes() in (b"GIF87a", b"GIF89a") else _decode(data, path)
    if alpha is None or alpha.min() >= 1.0:
        return rgb
    log.warning("%s: transparent background, shown on mid-grey", path)
    return cv2.blendLinear(rgb, np.full_like(rgb, BACKDROP), alpha, 1.0 - alpha)


def _decode(data: NDArray[np.uint8], path: Path) -> tuple[NDArray[np.uint8], NDArray[np.float32] | None]:
    """RGB through OpenCV (which also turns phone photos upright), and the alpha channel when there is one."""
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ReenactError("not a readable image (corrupt or unsupported format)", path)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if data[:2].tobytes() == b"\xff\xd8":  # JPEG: never an alpha channel, so no second decode
        return rgb, None
    full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] != 4 or full.shape[:2] != rgb.shape[:2]:
        return rgb, None
    a = full[..., 3]
    top = np.iinfo(a.dtype).max if np.issubdtype(a.dtype, np.integer) else 1.0
    return rgb, np.clip(a.astype(np.float32) / top, 0.0, 1.0)


def _decode_gif(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """The first frame of a GIF through Pillow: this OpenCV build has no GIF decoder."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            frames = getattr(im, "n_frames", 1)
            im.seek(0)
            rgba = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError, ValueError, EOFError):
        raise ReenactError("not a readable image (corrupt GIF)", path) from None
    if frames > 1:
        log.warning("%s: an animated GIF (%d frames): its first frame is the avatar", path, frames)
    return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].astype(np.float32) / 255.0
