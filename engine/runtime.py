"""Process-wide CPU settings that decide real time on small machines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache


def cpu_threads() -> int:
    """Threads for intra-op parallelism: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def flush_denormals() -> None:
    """Denormals flushed to zero on the CPU: eager torch was up to 15× slower without it.

    numpy works out its float limits the first time they are asked for (matplotlib asks when it draws); under
    flushed denormals it finds a smallest subnormal of zero and warns about it every time. Asked first here,
    the limits are right and cached.
    """
    import warnings

    import numpy as np
    import torch

    for dtype in (np.float16, np.float32, np.float64, np.longdouble):
        np.finfo(dtype)
    # Some libraries build their own float info later (new finfo objects): the warning it gives under flushed
    # denormals is about this very setting, so it is silenced where the setting is made.
    warnings.filterwarnings("ignore", message="The value of the smallest subnormal", category=UserWarning)
    torch.set_flush_denormal(True)


def _flushing() -> bool:
    """Whether this thread flushes denormals now (a denormal input reads as zero)."""
    import torch

    return float(torch.tensor([1e-39], dtype=torch.float32)[0] * 1.0) == 0.0


@contextmanager
def denormals_kept() -> Iterator[None]:
    """Denormals computed as they are for a block, and flushing restored after it: MediaPipe's person segmentation
    model fails to start (TFLite cannot allocate its tensors) under flushed denormals, which face tracking does not
    mind."""
    import torch

    flushing = _flushing()
    if flushing:
        torch.set_flush_denormal(False)
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(True)


@cache
def configure_torch() -> None:
    """Flush denormals and match threads to the cores."""
    import torch

    flush_denormals()
    torch.set_num_threads(cpu_threads())


@cache
def configure_opencv() -> None:
    """OpenCV at one thread: its resizes and blends run inside stages that already have a thread of their own.

    OpenCV otherwise starts a pool the size of the machine for every parallel loop; on two cores that pool
    competes with ONNX Runtime's and MediaPipe's for the same cores, and a pipelined runner overlaps the stages
    across frames instead (app.runner).
    """
    import cv2

    cv2.setNumThreads(1)


@cache
def configure_numpy() -> None:
    """One BLAS thread for numpy.

    The per-frame math (TPS solve, point fits) is on matrices of a few hundred rows, where a second BLAS thread
    gains nothing and busy-waits after every call on the core MediaPipe and the network need: with it, landmarks
    took 6.3 ms a frame instead of 4.4 ms on two cores. PyTorch and ONNX Runtime keep their own thread pools.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # an optional speed-up; nothing breaks without it
        return
    ThreadpoolController().limit(limits=1, user_api="blas")


def configure_threads() -> None:
    """Every per-frame library's thread count set once, for the whole process (numpy/BLAS and OpenCV at one)."""
    configure_numpy()
    configure_opencv()
