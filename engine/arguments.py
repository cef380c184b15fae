"""Value types for command-line options, shared by every subcommand: a wrong number is refused by the parser as
that option's mistake, before any work starts, instead of surfacing later as an odd error about a file."""

from __future__ import annotations

import argparse
import math


def frame_size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` (e.g. 1280x720): an output frame size."""
    w, sep, h = text.lower().replace("×", "x").partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"must look like WIDTHxHEIGHT (e.g. 1280x720), got {text!r}")
    size = _whole(w, least=16), _whole(h, least=16)
    if max(size) > 8192:
        raise argparse.ArgumentTypeError(f"must be at most 8192 on each side, got {text}")
    return size


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """`--precision`, the same for every subcommand that loads a network."""
    from reenact.engine.backends.formats import PRECISIONS

    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="what the network computes in where the backend can: auto = each backend's own (int8 "
                             "on ONNX Runtime on a CPU, fp32 elsewhere); fp16 on TensorRT and PyTorch on CUDA; "
                             "fp32 everywhere")


def positive_int(text: str) -> int:
    return _whole(text, least=1)


def non_negative_int(text: str) -> int:
    return _whole(text, least=0)


def positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text}")
    return value


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be ≥ {least}, got {value}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}")
    return value
