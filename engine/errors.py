"""One exception type for user mistakes, so the command line can print one line instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class ReenactError(Exception):
    """A problem with the user's input (a file, a setting): shown as one line, exit code 2."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (or its type's name), cut to `limit` characters: third-party
    errors (pickle, protobuf, ONNX Runtime) can span pages, and a user's error is one line."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
