"""What reenact prints to the terminal besides its own results: one-line warnings, and third-party logs only
with `reenact -v`.

MediaPipe, TensorFlow Lite and OpenCV's FFmpeg read their log levels from the environment, some when they load and
some each time they open something, so the quiet defaults are set before any of them is imported and `-v` undoes
them (for the ones read later) before a command runs.
"""

from __future__ import annotations

import logging
import os
import sys

_QUIET_ENV = {
    "GLOG_minloglevel": "2",  # MediaPipe's glog
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow Lite
    "OPENCV_LOG_LEVEL": "ERROR",  # OpenCV's own warnings
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # FFmpeg's demuxer lines ("moov atom not found") before reenact's one-line error
}
_OPENCV_LOG_LEVELS = {True: 3, False: 2}  # cv2.setLogLevel: 3 warnings, 2 errors only
_ours: set[str] = set()  # the variables set here, not by the user
_handler: logging.Handler | None = None


def quiet_native_logs() -> None:
    """Quiet defaults for the libraries that log from C++; a variable the user set is left as it is."""
    for name, value in _QUIET_ENV.items():
        if name not in os.environ or name in _ours:
            os.environ[name] = value
            _ours.add(name)


class _Formatter(logging.Formatter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        where = f"{record.name}: " if self.verbose else ""
        return f"reenact: {record.levelname.lower()}: {where}{record.getMessage()}"


def configure_output(verbose: bool) -> None:
    """Warnings as `reenact: warning: ...` lines on stderr; with `verbose`, INFO and the libraries' logs too."""
    global _handler
    if verbose:
        for name in _ours:
            os.environ.pop(name, None)
    else:
        quiet_native_logs()
    if "OPENCV_LOG_LEVEL" in _ours:  # read when cv2 loaded, which was before the command line was parsed
        import cv2

        cv2.setLogLevel(_OPENCV_LOG_LEVELS[verbose])
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_Formatter(verbose))
    root.addHandler(_handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
