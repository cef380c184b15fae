"""Process-wide CPU settings that decide real time on small machines."""

from __future__ import annotations

import os
from functools import cache


def cpu_threads() -> int:
    """Threads for intra-op parallelism: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@cache
def configure_torch() -> None:
    """Flush denormals (eager torch was up to 15× slower without it) and match threads to the cores."""
    import torch

    torch.set_flush_denormal(True)
    torch.set_num_threads(cpu_threads())


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
