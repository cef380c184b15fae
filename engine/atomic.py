"""Writing files so that a crash never leaves half a file under the real name, and never over a user's file unasked."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reenact.engine.errors import ReenactError


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block succeeds, removed when not.

    `suffix` lets writers that choose a format by extension (numpy, ffmpeg) see the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the finished file gets the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, *chunks: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    return Path(path)


def check_output_path(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace a user's file unless asked; create the folder when missing."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ReenactError("output file exists (pass --overwrite to replace it)", path)
    if path.exists() and path.is_dir():
        raise ReenactError("output path is a folder", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReenactError(f"cannot create the output folder ({exc.strerror})", path.parent) from None
    return path
