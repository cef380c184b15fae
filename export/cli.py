"""`reenact export` subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

from reenact.engine.assets import DEFAULT_WEIGHTS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (and TensorRT), checked against PyTorch",
        description="Write encoder.onnx and frame.onnx with their metadata, check them against PyTorch on random "
                    "and real inputs (the export fails when they differ beyond tolerance), check the operators "
                    "TensorRT needs, and optionally build TensorRT engines and an int8 variant.",
    )
    p.add_argument("--checkpoint", default=str(DEFAULT_WEIGHTS), help="reenact checkpoint (.pt)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tensorrt", action="store_true", help="also build TensorRT engines (needs TensorRT 10 and a GPU)")
    p.add_argument("--fp16", action="store_true", help="build the TensorRT engines in fp16")
    p.add_argument("--int8", action="store_true", help="also write the int8 variant ONNX Runtime runs on a CPU (static, calibrated on the "
                        "bundled avatars and clip, kept only when its crop holds against fp32's)")
    p.add_argument("--random-only", action="store_true",
                   help="check parity on random inputs only (skips the bundled avatar and clip)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier export in the folder (its .onnx graphs, parity.txt, int8/, tensorrt/); "
                        "other files there are left alone")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from reenact.engine.atomic import check_folder_can_be_made
    from reenact.engine.errors import require_file
    from reenact.export.exporter import ExportOptions, run_export

    checkpoint = require_file(args.checkpoint, "checkpoint")
    check_folder_can_be_made(args.out)  # before minutes of export and parity checks, not after
    summary = run_export(ExportOptions(
        checkpoint=checkpoint, out=Path(args.out), tensorrt=args.tensorrt, fp16=args.fp16,
        int8=args.int8, real_inputs=not args.random_only, overwrite=args.overwrite,
    ))
    print(f"wrote {summary.out}: " + ", ".join(str(p.relative_to(summary.out)) for p in summary.files))
    return 0
