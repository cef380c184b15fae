"""`reenact app`: the desktop app (webcam or video → animated avatar → preview, virtual camera, recording)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reenact.engine.arguments import add_precision_option, non_negative_int, positive_float
from reenact.engine.assets import AVATARS_DIR, DEFAULT_WEIGHTS, IMAGE_SUFFIXES
from reenact.engine.errors import ReenactError, require_file
from reenact.engine.mode import WARP


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("app", help="the desktop app: camera or video → animated avatar → virtual camera")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--driving", metavar="FILE", help="drive from a video file (looped) instead of a camera")
    source.add_argument("--camera", metavar="N|URL", type=camera_argument,
                        help="drive from camera N (see the app's source list), or from a phone or network camera's "
                        "stream: an MJPEG/HTTP or RTSP URL such as http://192.168.1.20:8080/video")
    p.add_argument("--avatar", metavar="IMAGE", help="start with this avatar (a file, or a bundled name: mona_lisa)")
    p.add_argument("--backend", default="auto", help="auto, tensorrt, onnxruntime-cuda, onnxruntime, torch or warp "
                                                      "(auto: the network on the fastest of them that runs here; warp: "
                                                      "the analytic warp, no network)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="model checkpoint (.pt) or export folder")
    add_precision_option(p)
    p.add_argument("--exit-after", metavar="SECONDS", type=positive_float, default=None,
                   help="close the window after this long (smoke tests, screenshots)")
    p.add_argument("--screenshot", metavar="PNG", default=None, help="save the window to this image when closing")
    p.set_defaults(func=run_app)


def camera_argument(text: str) -> int | str:
    """A camera number, or a stream URL (checked: one line naming the URL when it cannot be one)."""
    from reenact.app.sources import check_stream_url, is_stream_url

    if is_stream_url(text) or "://" in text:
        try:
            return check_stream_url(text)
        except ReenactError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    if text.strip().lstrip("+-").isdigit():
        return non_negative_int(text)
    raise argparse.ArgumentTypeError(f"must be a camera number or a stream URL (http://…, rtsp://…), got {text!r}")


def resolve_avatar(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return path
    for suffix in IMAGE_SUFFIXES:  # a bundled avatar by name
        candidate = AVATARS_DIR / f"{value}{suffix}"
        if candidate.is_file():
            return candidate
    raise ReenactError("avatar image not found", path)


def run_app(args: argparse.Namespace) -> int:
    import signal
    import sys

    driving = require_file(args.driving, "driving video") if args.driving else None
    from reenact.engine.backends.loader import resolve_kind

    if args.backend != WARP:
        resolve_kind(args.backend)
    weights = Path(args.weights)
    if args.backend not in ("auto", WARP) and not weights.exists():
        raise ReenactError("model weights not found (use --backend warp to run the analytic warp)", weights)
    screenshot = Path(args.screenshot) if args.screenshot else None
    avatar = resolve_avatar(args.avatar)

    from PyQt6.QtCore import QTimer

    from reenact.app.window import AppOptions, MainWindow, make_application

    camera = args.camera if isinstance(args.camera, int) else None
    stream = args.camera if isinstance(args.camera, str) else None
    options = AppOptions(driving=driving, camera=camera, stream=stream, avatar=avatar, backend=args.backend,
                         weights=weights, precision=args.precision)

    app = make_application(sys.argv[:1])
    window = MainWindow(options)
    window.show()

    def finish() -> None:
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(screenshot))
        window.close()

    if args.exit_after is not None:
        QTimer.singleShot(int(args.exit_after * 1000), finish)
    # Ctrl+C in the terminal, or SIGTERM (`kill`, a logout), closes the window cleanly: a recording is finished
    # and saved. (Qt's loop would otherwise keep Python from seeing them; an exception raised in a Qt slot aborts.)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    app.exec()
    window.close()  # also when the event loop ended another way: stop the worker, save settings
    print(f"frames shown: {window.frames_received}")
    return 0
