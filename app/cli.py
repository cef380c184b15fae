"""`reenact` command line: one entry point, a subcommand per job. User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from reenact.engine.assets import DEFAULT_AVATAR, DEFAULT_CLIP, DEFAULT_WEIGHTS  # noqa: E402
from reenact.engine.errors import ReenactError  # noqa: E402

Command = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from reenact.app.demo import DemoOptions, run_demo

    summary = run_demo(
        DemoOptions(
            source=Path(args.source), driving=Path(args.driving), out=Path(args.out), mode=args.mode,
            backend=args.backend, weights=Path(args.weights), motion=args.motion, reference=args.reference, side_by_side=args.side_by_side,
            overwrite=args.overwrite, max_frames=args.max_frames, progress=not args.quiet,
            config=Path(args.config) if args.config else None,
        )
    )
    stages = ", ".join(f"{k} {v:.1f} ms" for k, v in summary.stage_ms.items())
    how = "trained model" if summary.mode == "model" else "analytic warp (no model weights)"
    print(f"mode: {how}" + (f", backend {summary.backend}" if summary.mode == "model" else ""))
    if summary.backend_reason:
        print(f"backend: {summary.backend_reason}")
    print(f"frames: {summary.frames}, face lost in {summary.frames_without_face} (last good motion held)")
    print(f"per frame: {stages}")
    print(f"wrote {summary.out}")
    return 0


# Each module adds its own subcommand with `register(subparsers)`; heavy imports happen only when one runs.
SUBCOMMAND_MODULES = ("reenact.app.gui_cli", "reenact.training.cli", "reenact.export.cli", "reenact.app.bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reenact", description="Animate any still portrait from a face in motion.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="animate an image from a driving video, offline, into an mp4")
    demo.add_argument("--source", default=str(DEFAULT_AVATAR),
                      help="avatar image (any portrait); default: the bundled Mona Lisa")
    demo.add_argument("--driving", default=str(DEFAULT_CLIP),
                      help="driving video with a face; default: the bundled talking clip")
    demo.add_argument("--out", required=True, help="output .mp4")
    demo.add_argument("--mode", default="auto", choices=("auto", "model", "warp"),
                      help="model (trained network) or warp (network-free); auto = model when weights exist")
    demo.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt")
    demo.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="model checkpoint")
    demo.add_argument("--motion", default=None, choices=("relative", "absolute"),
                      help="relative (default): the avatar keeps its face shape; absolute: takes the driver's")
    demo.add_argument("--reference", default="auto", choices=("auto", "first"),
                      help="neutral pose of relative motion: the driving frame closest to the avatar's expression "
                      "(auto) or the first frame")
    demo.add_argument("--side-by-side", action="store_true", help="write source | driving | result")
    demo.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    demo.add_argument("--max-frames", type=int, default=None, help="stop after N driving frames")
    demo.add_argument("--config", default=None, help="engine settings (YAML, see config/pipeline.yaml)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ReenactError as exc:
        print(f"reenact: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reenact: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
