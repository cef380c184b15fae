"""One exception type for user mistakes, so the command line can print one line instead of a traceback."""

from __future__ import annotations

import re
from pathlib import Path

# Colour and cursor codes some libraries put in their messages (CSI sequences, OSC titles, lone ESC pairs).
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class ReenactError(Exception):
    """A problem with the user's input (a file, a setting): shown as one line, exit code 2."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (or its type's name), without terminal codes and cut at a word
    to at most `limit` characters: third-party errors (pickle, protobuf, ONNX Runtime) can span pages and colour
    their text, and a user's error is one clean line."""
    text = _ANSI.sub("", str(exc)).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"


def require_file(path: str | Path, what: str) -> Path:
    """`path` when it is a file, else the one line that says what is wrong with it: missing, or a folder where a
    file was expected (not "not found", which sends the user looking for a file that is there)."""
    path = Path(path)
    if path.is_dir():
        raise ReenactError(f"is a folder, expected a file ({what})", path)
    if not path.is_file():
        raise ReenactError(f"{what} not found", path)
    return path
