"""`reenact` command line: one entry point, a subcommand per job. User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reenact.app.console import configure_output, quiet_native_logs

quiet_native_logs()  # before anything loads OpenCV, MediaPipe or TensorFlow Lite

from reenact.engine.arguments import add_precision_option, frame_size, positive_int  # noqa: E402
from reenact.engine.assets import DEFAULT_AVATAR, DEFAULT_CLIP, DEFAULT_WEIGHTS  # noqa: E402
from reenact.engine.atomic import created_folders_removed_on_failure, remove_leftover_temp_files  # noqa: E402
from reenact.engine.errors import ReenactError  # noqa: E402

Command = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from reenact.app.containers import container_for
    from reenact.app.demo import DemoOptions, run_demo

    container_for(args.out)  # as typed: Path() drops the trailing "/" of a folder
    summary = run_demo(
        DemoOptions(
            source=Path(args.source), driving=Path(args.driving), out=Path(args.out), mode=args.mode,
            backend=args.backend, weights=Path(args.weights), precision=args.precision, motion=args.motion, reference=args.neutral, side_by_side=args.side_by_side,
            overwrite=args.overwrite, max_frames=args.max_frames, progress=not args.quiet,
            config=Path(args.config) if args.config else None, size=args.size, framing=args.framing,
        )
    )
    stages = ", ".join(f"{k} {v:.1f} ms" for k, v in summary.stage_ms.items())
    how = "trained model" if summary.mode == "model" else f"analytic warp ({summary.mode_reason})"
    print(f"mode: {how}" + (f", backend {summary.backend}" if summary.mode == "model" else ""))
    if summary.backend_reason:
        print(f"backend: {summary.backend_reason}")
    clamped = f", head motion limited in {summary.frames_clamped}" if summary.frames_clamped else ""
    print(f"frames: {summary.frames}, face lost in {summary.frames_without_face} (last good motion held){clamped}")
    print(f"per frame: {stages}")
    print(f"wrote {summary.out}")
    return 0


# Each module adds its own subcommand with `register(subparsers)`; heavy imports happen only when one runs.
SUBCOMMAND_MODULES = ("reenact.app.gui_cli", "reenact.app.doctor", "reenact.training.cli", "reenact.export.cli", "reenact.app.bench")


class OneLineParser(argparse.ArgumentParser):
    """A command-line mistake is one line naming the option, exit 2, like every other user mistake (argparse's
    own error prints its usage block first, which buries the line that matters). Subcommands inherit it."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="reenact", description="Animate any still portrait from a face in motion.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show progress notes and the logs of MediaPipe, TensorFlow Lite and FFmpeg")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="animate an image from a driving video, offline, into a video file")
    demo.add_argument("--source", default=str(DEFAULT_AVATAR),
                      help="avatar image (any portrait); default: the bundled Mona Lisa")
    demo.add_argument("--driving", default=str(DEFAULT_CLIP),
                      help="driving video with a face; default: the bundled talking clip")
    demo.add_argument("--out", required=True, help="output video: .mp4, .mov, .mkv, .webm or .gif (no sound)")
    demo.add_argument("--mode", default="auto", choices=("auto", "model", "warp"),
                      help="model (trained network) or warp (network-free); auto = the model where its weights are "
                           "(on a person it never saw it is the closer of the two), else the warp")
    demo.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt")
    demo.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="model checkpoint")
    add_precision_option(demo)
    demo.add_argument("--motion", default=None, choices=("relative", "absolute"),
                      help="relative (default): the avatar keeps its face shape; absolute: takes the driver's")
    demo.add_argument("--neutral", "--reference", dest="neutral", default="auto", choices=("auto", "first"),
                      help="the neutral pose relative motion is measured from: the driving frame closest to the "
                      "avatar's expression and head tilt (auto) or the first frame (--reference is the former name)")
    demo.add_argument("--size", type=frame_size, default=None, metavar="WxH",
                      help="output frame size, e.g. 1280x720 (framed by --framing); default: the avatar's own, "
                      "at most 4096 px on the long side (1280x720 with --framing head)")
    demo.add_argument("--framing", default=None, choices=("head", "portrait"),
                      help="head: head and shoulders as a webcam shows a person, the face about 40%% of the frame "
                      "height (the default with --size); portrait: the whole picture, fitted over a blur of itself")
    demo.add_argument("--side-by-side", action="store_true", help="write source | driving | result")
    demo.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    demo.add_argument("--max-frames", type=positive_int, default=None, help="stop after N driving frames")
    demo.add_argument("--config", default=None, help="engine settings (YAML, see config/pipeline.yaml)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a service manager) unwinds like Ctrl-C, so temporary files are cleaned up."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _join_dash_values(argv: Sequence[str]) -> list[str]:
    """`--frames -5:10` as `--frames=-5:10`: argparse reads a value that starts with "-" and is not a plain
    number as another option and says "expected one argument", never reaching what is wrong with the value.
    No option name starts with a digit, so "-" and a digit after an option is always its value."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and re.match(r"-\.?\d", token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(_join_dash_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, or a mistake the parser has printed: a code, also for callers in-process
        return int(exc.code or 0)
    configure_output(args.verbose)
    try:
        with _sigterm_unwinds(), created_folders_removed_on_failure():
            return int(args.func(args) or 0)
    except ReenactError as exc:
        print(f"reenact: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        remove_leftover_temp_files()
        print("reenact: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        remove_leftover_temp_files()
        print("reenact: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
