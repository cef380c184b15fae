"""The avatars a user can pick: the bundled portraits plus their own folder of added images.

An image is only added after a face has been found in it, so the gallery never offers an avatar that would fail
when chosen. Added images are copied (the user may later move or delete the original) and never overwrite.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from reenact.engine.assets import IMAGE_SUFFIXES, bundled_avatars, load_image
from reenact.engine.errors import ReenactError
from reenact.engine.face import FaceTracker


@dataclass(frozen=True, slots=True)
class Avatar:
    path: Path
    bundled: bool

    @property
    def name(self) -> str:
        return self.path.stem.replace("_", " ")


class AvatarLibrary:
    def __init__(self, user_dir: Path) -> None:
        self.user_dir = Path(user_dir)

    def avatars(self) -> list[Avatar]:
        """Bundled avatars first, then the user's in the order they were added."""
        out = [Avatar(p, True) for p in bundled_avatars()]
        if self.user_dir.is_dir():
            mine = [p for p in self.user_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            out += [Avatar(p, False) for p in sorted(mine, key=lambda p: (p.stat().st_mtime, p.name))]
        return out

    def is_user_avatar(self, path: Path) -> bool:
        return Path(path).resolve().parent == self.user_dir.resolve()

    def add(self, path: str | Path) -> Avatar:
        """Copy an image into the user's folder once a face is found in it; ReenactError otherwise."""
        path = Path(path)
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ReenactError(f"not an image this app reads ({', '.join(IMAGE_SUFFIXES)})", path)
        image = load_image(path)
        with FaceTracker(static=True) as tracker:
            if tracker.detect(image) is None:
                raise ReenactError("no face found in this image; choose a portrait where the face is visible", path)
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
            target = _free_name(self.user_dir, path.stem, path.suffix.lower())
            tmp = target.with_name(f".{target.name}.partial")
            shutil.copyfile(path, tmp)
            tmp.replace(target)
        except OSError as exc:
            raise ReenactError(f"cannot copy into the avatar folder ({exc.strerror or exc})", self.user_dir) from None
        return Avatar(target, False)

    def remove(self, path: str | Path) -> None:
        path = Path(path)
        if not self.is_user_avatar(path):
            raise ReenactError("bundled avatars cannot be removed", path)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ReenactError(f"cannot remove the avatar ({exc.strerror or exc})", path) from None


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    candidate, n = folder / f"{stem}{suffix}", 2
    while candidate.exists():
        candidate, n = folder / f"{stem}-{n}{suffix}", n + 1
    return candidate
