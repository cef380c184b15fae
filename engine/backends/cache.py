"""Where the per-user cache lies, and the file hash its entries are keyed by. The cache itself (what goes in, when
it is trusted) is reenact.export.cache; engine.backends only looks up engines there (artifacts.engine_dir_for)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "REENACT_CACHE_DIR"


def cache_root() -> Path:
    """$REENACT_CACHE_DIR, else $XDG_CACHE_HOME/reenact, else ~/.cache/reenact."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "reenact"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
