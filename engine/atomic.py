"""Writing files so that a crash never leaves half a file under the real name, and never over a user's file unasked.

Every writer goes through here, so the rules live in one place: a temporary name beside the target (same
filesystem, so the final rename is atomic), the permissions the user's umask asks for (tempfile makes 0600 files
and 0700 folders, which a rename would carry onto the finished output), and a final step that refuses to replace a
file that appeared under the output name while the work ran, unless replacing was asked for.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from reenact.engine.errors import ReenactError


def umask() -> int:
    """The process umask, read without changing it where the OS says it (changing it races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _with_umask(path: Path, folder: bool) -> Path:
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())
    return path


_made_here: set[Path] = set()  # every temporary file this process made: see remove_leftover_temp_files


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the block to end, so a file is never made without being recorded."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def temp_file_beside(path: str | Path, suffix: str = ".tmp") -> Path:
    """An empty hidden file in the target's folder, with the permissions a plain `open(path, "w")` would give."""
    path = Path(path)
    with _signals_held():
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        _made_here.add(Path(tmp))
    os.close(fd)
    return _with_umask(Path(tmp), folder=False)


def remove_leftover_temp_files() -> None:
    """On an interrupted run: remove the temporary files still there. Writers clean up after themselves when the
    interruption reaches them, but a signal can land between making a file and handing it to its writer."""
    for tmp in list(_made_here):
        tmp.unlink(missing_ok=True)
    _made_here.clear()


def temp_dir_beside(path: str | Path, inside: bool = False) -> Path:
    """An empty hidden folder next to `path` (or in it, with `inside`), with the permissions `mkdir` would give."""
    path = Path(path)
    where = path if inside else path.parent
    name = path.resolve().name or "out"
    return _with_umask(Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=where)), folder=True)


def kept_name(path: Path, n: int) -> Path:
    """Where a finished result goes when its own name was taken meanwhile: `clip.reenact-1.mp4`."""
    return path.with_name(f"{path.stem}.reenact-{n}{path.suffix}")


def _move_no_replace(tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target`, failing with FileExistsError when `target` exists, atomically where possible."""
    try:
        os.link(tmp, target)  # fails if target exists, at the moment of the link
    except FileExistsError:
        raise
    except OSError:  # no hard links on this filesystem (FAT, some network shares)
        if sys.platform == "win32":
            os.rename(tmp, target)  # refuses an existing target by itself
            return
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.rename(tmp, target)
        return
    os.unlink(tmp)


def publish(tmp: str | Path, path: str | Path, overwrite: bool) -> Path:
    """Move a finished temporary file onto its real name.

    Without `overwrite`, a file that appeared under that name while the work ran is left alone: the result is kept
    beside it under a visible name (never thrown away after the work) and the user is told where.
    """
    tmp, path = Path(tmp), Path(path)
    if overwrite:
        os.replace(tmp, path)
        return path
    try:
        _move_no_replace(tmp, path)
        return path
    except FileExistsError:
        pass
    for n in range(1, 1000):
        try:
            _move_no_replace(tmp, kept_name(path, n))
        except FileExistsError:
            continue
        raise ReenactError(f"a file appeared under this name while it was being written and was not replaced; "
                           f"the result is in {kept_name(path, n)} (pass --overwrite to replace)", path)
    tmp.unlink(missing_ok=True)
    raise ReenactError("a file appeared under this name while it was being written and was not replaced", path)


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp", overwrite: bool = True) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block succeeds, removed when not.

    `suffix` lets writers that choose a format by extension (numpy, ffmpeg) see the right one. Writers of a user's
    output pass `overwrite=False` unless the user asked, so a file made meanwhile under that name is kept
    (see `publish`); the program's own files (checkpoints it rewrites, caches) are replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file_beside(path, suffix)
    try:
        yield tmp
        publish(tmp, path, overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, *chunks: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    return Path(path)


def check_output_path(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace a user's file unless asked, and a folder the file cannot be written to; create the folder
    when missing (taken away again if the command then fails, see `created_folders_removed_on_failure`)."""
    path = Path(path)
    if path.is_dir():
        raise ReenactError("is a folder, expected a file name for the output", path)
    if path.exists() and not overwrite:
        raise ReenactError("output file exists (pass --overwrite to replace it)", path)
    make_output_folder(path.parent)
    check_writable(path.parent)
    return path


_created_folders: list[Path] = []  # made by make_output_folder during the current command, outermost first
_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC}  # worth naming; others (/proc) only confuse


def make_output_folder(folder: str | Path) -> Path:
    """`mkdir -p` that remembers the folders it made, so a command that fails later leaves no empty ones behind."""
    folder = Path(folder)
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ReenactError("is a file, not a folder: the output cannot go in it", base)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]  # innermost first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReenactError(f"cannot create the output folder in it{_why(exc)}", base) from None
    _created_folders.extend(reversed(missing))
    return folder


def check_folder_can_be_made(folder: str | Path) -> None:
    """Without making anything: `folder`, or the nearest folder above it that exists, can take new files."""
    base = _nearest_existing(Path(folder))
    if not base.is_dir():
        raise ReenactError("is a file, not a folder: the output cannot go in it", base)
    check_writable(base)


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())


def _why(exc: OSError) -> str:
    return f" ({exc.strerror})" if exc.errno in _WRITE_ERRNOS else ""


def check_writable(folder: str | Path) -> None:
    """Create and delete a file in `folder`: permission bits say nothing about read-only mounts, /proc or /sys, nor
    to root, so only a real write tells before the work whether its result can be saved."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".reenact-", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ReenactError(f"cannot write files in this folder{_why(exc)}", folder) from None


@contextmanager
def created_folders_removed_on_failure() -> Iterator[None]:
    """Around one command: when it fails, the output folders it made that are still empty are removed again, so
    a run refused for a bad input leaves no `newdir/sub/` behind."""
    start = len(_created_folders)
    try:
        yield
    except BaseException:
        for folder in reversed(_created_folders[start:]):
            try:
                folder.rmdir()
            except OSError:  # not empty: something of the user's, or a partial result being kept
                pass
        raise
    finally:
        del _created_folders[start:]


def check_not_an_input(out: str | Path, inputs: Mapping[str, str | Path]) -> None:
    """Refuse an output that is one of the inputs (the same file, or a link to it): writing it would destroy it."""
    out = Path(out)
    if not out.exists():
        return
    for option, path in inputs.items():
        if Path(path).exists() and os.path.samefile(out, path):
            raise ReenactError(f"the output is the {option} file itself (choose another output name)", out)
