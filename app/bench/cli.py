"""`reenact bench` on the command line: its options, checked before any work, and where the results go."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reenact.app.bench.setup import DEFAULT_AVATAR, OUTPUTS, BenchOptions
from reenact.engine.arguments import add_precision_option, non_negative_float, non_negative_int, positive_int
from reenact.engine.assets import DEFAULT_CLIP, DEFAULT_WEIGHTS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="measure frames per second, latency and CPU per frame of the app's "
                                            "threaded pipeline, against a FOMM-sized network")
    p.add_argument("--backend", default="auto",
                   help="auto (what the app runs: the network on the fastest backend here), warp, "
                        "torch, onnxruntime, tensorrt, ...; all = every backend that loads here, then the warp "
                        "(the others are listed with the reason)")
    add_precision_option(p)
    p.add_argument("--frames", type=positive_int, default=300, help="timed frames per backend (after warm-up)")
    p.add_argument("--warmup", type=non_negative_int, default=20, help="frames run before timing starts")
    p.add_argument("--size", type=model_size, default=None, help="model input size (default: the weights', else 256)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                   help="model checkpoint (.pt) or export folder (from reenact export; ONNX-based backends only)")
    p.add_argument("--avatar", default=str(DEFAULT_AVATAR), help="avatar image")
    p.add_argument("--driving", default=str(DEFAULT_CLIP), help="driving video (decoded into memory first)")
    p.add_argument("--output", default="vcam", choices=OUTPUTS,
                   help="output stage, through the app's output router: vcam = the virtual camera sink on a null "
                        "driver, mp4 = a recording (H.264, at the output rate), none")
    p.add_argument("--record", default=None, metavar="PATH",
                   help="with --output mp4: keep the recording here (default: a temporary file)")
    p.add_argument("--input-fps", type=non_negative_float, default=0.0, metavar="FPS",
                   help="feed frames like a camera at this rate (stale ones dropped, as in the app); 0 = as fast as "
                        "the pipeline takes them (throughput)")
    p.add_argument("--load", type=non_negative_int, default=0, metavar="N",
                   help="run N busy processes during the timed run (one per core, pinned where the OS allows), as "
                        "a video call and a browser would")
    p.add_argument("--model-runs", type=positive_int, default=50, help="runs of the model step timed alone")
    p.add_argument("--fomm-frames", type=non_negative_int, default=5,
                   help="timed steps of the FOMM-sized network (0.4–1 s each on 2 cores); 0 = skip it")
    p.add_argument("--soak", type=non_negative_float, default=0.0, metavar="SECONDS",
                   help="run for this long instead of --frames and report memory (RSS) growth")
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON")
    p.add_argument("--plot", default=None, metavar="PATH", help="write a PNG bar chart")
    p.add_argument("--overwrite", action="store_true", help="replace --json/--plot/--record files if they exist")
    p.set_defaults(func=_bench)


def model_size(text: str) -> int:
    """--size within the model's own limits (ModelConfig.size), so a size the network cannot run is refused as
    the option's mistake, not by a tensor-shape error after minutes of setup."""
    from reenact.engine.config import ModelConfig, setting_problem

    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    problem = setting_problem(ModelConfig, "size", size)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return size


def _bench(args: argparse.Namespace) -> int:
    from reenact.app.bench.report import format_report, write_json, write_plot
    from reenact.app.bench.run import run_bench
    from reenact.engine.atomic import check_output_path

    json_path = check_output_path(args.json, args.overwrite) if args.json else None
    plot_path = check_output_path(args.plot, args.overwrite) if args.plot else None
    record = check_output_path(args.record, args.overwrite) if args.record else None
    opts = BenchOptions(
        backend=args.backend, frames=args.frames, warmup=args.warmup, size=args.size, weights=Path(args.weights),
        avatar=Path(args.avatar), driving=Path(args.driving), output=args.output, record=record,
        input_fps=args.input_fps, load=args.load, model_runs=args.model_runs, fomm_frames=args.fomm_frames,
        soak_s=args.soak, overwrite=args.overwrite, precision=args.precision,
    )
    report = run_bench(opts, say=lambda s: print(s, file=sys.stderr, flush=True))
    print(format_report(report))
    if json_path is not None:
        write_json(report, json_path, args.overwrite)
        print(f"wrote {json_path}")
    if plot_path is not None:
        write_plot(report, plot_path, args.overwrite)
        print(f"wrote {plot_path}")
    return 0
