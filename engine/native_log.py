"""Native libraries' start-up chatter kept off the terminal, and shown again with `reenact -v`.

MediaPipe's TensorFlow Lite and absl write from C++ straight to file descriptor 2 as a face mesh starts (4 to 9
lines each time, none of them actionable), past Python's logging and past GLOG_minloglevel. So the descriptor
itself points at a temporary file while they start, and what they wrote is logged at INFO instead.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

_lock = threading.Lock()
# One redirection for the whole process, however many threads start a library at once: the first to enter
# points fd 2 at the file, the last to leave points it back and logs everything captured.
_depth = 0
_saved_fd: int | None = None
_file: IO[bytes] | None = None


def _flush_python_stderr() -> None:
    if sys.stderr is not None:  # None under pythonw and some service managers
        sys.stderr.flush()


def _redirect() -> None:
    global _depth, _saved_fd, _file
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        _flush_python_stderr()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to keep quiet
            return
        _file = tempfile.TemporaryFile()
        os.dup2(_file.fileno(), 2)
        _saved_fd = saved


def _restore() -> str:
    global _depth, _saved_fd, _file
    with _lock:
        _depth -= 1
        if _depth > 0 or _saved_fd is None or _file is None:
            return ""
        _flush_python_stderr()
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        _file.seek(0)
        text = _file.read().decode("utf-8", errors="replace")
        _file.close()
        _saved_fd = _file = None
        return text


@contextmanager
def native_stderr_to_log(logger: logging.Logger) -> Iterator[None]:
    """Whatever is written to fd 2 inside the block becomes INFO records of `logger`, one per line."""
    _redirect()
    try:
        yield
    finally:
        for line in _restore().splitlines():
            if line.strip():
                logger.info("%s", line.rstrip())
