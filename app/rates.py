"""Two small clocks of the live session: which frames the output rate needs, and the figures the status bar shows.

Kept out of the worker so each has one job and can be read (and tested) on its own.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

LATENCY_WINDOW = 90  # frames (3 s at 30 fps) the p95 latency is taken over


class OutputRate:
    """Lets through only the frames a chosen output rate needs (never more than that).

    A quarter-period of slack absorbs camera jitter; after a slow stretch the schedule restarts from now, so it is
    never followed by a burst.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.skipped = 0  # frames left out so far
        self._next_due: float | None = None

    def due(self, t: float) -> bool:
        """Whether a frame captured at `t` (seconds, perf_counter) is needed."""
        period = 1.0 / max(self.fps, 1)
        if self._next_due is not None and t < self._next_due - 0.25 * period:
            self.skipped += 1
            return False
        self._next_due = max((self._next_due if self._next_due is not None else t) + period, t + 0.5 * period)
        return True


class FrameStats:
    """Frames per second (a running mean of the interval between delivered frames) and end-to-end latency."""

    def __init__(self) -> None:
        self.frames = 0
        self._interval: float | None = None
        self._last: float | None = None
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def delivered(self, captured_at: float, done: float | None = None) -> float:
        """Count a frame captured at `captured_at` and handed to the outputs at `done` (now); its latency in ms."""
        done = time.perf_counter() if done is None else done
        if self._last is not None:
            dt = done - self._last
            self._interval = dt if self._interval is None else 0.9 * self._interval + 0.1 * dt
        self._last = done
        self.frames += 1
        latency = (done - captured_at) * 1000.0
        self._latencies.append(latency)
        return latency

    @property
    def fps(self) -> float:
        return 1.0 / self._interval if self._interval else 0.0

    @property
    def latency_p95_ms(self) -> float:
        """p95 of the last LATENCY_WINDOW frames' latency."""
        return float(np.percentile(self._latencies, 95)) if self._latencies else 0.0
