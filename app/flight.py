"""How many frames a live source keeps in flight: as many as buy throughput on a machine of its own, as few as keep
the latency in budget on a shared one.

Latency is frames in flight ÷ throughput (Little's law), and what a second frame in flight buys depends on the cores
other programs leave free. The analytic warp's path (`reenact bench`, two cores) gave 35 fps with one frame in
flight and 52 with two on idle cores (p95 35 and 50 ms), but with a busy process on one core 40 fps at a p95 of
31 ms with one and 44 fps at 58 ms with two: the second frame's stages then share the busy core. No fixed number is
right for both, and a call changes the load from minute to minute, so the number follows what is measured over each
window of delivered frames: the latency's 95th percentile, the delivery rate, and the cores other programs used.
- Others idle: one more frame in flight on trial for a window, kept if the rate rose by `gain`, else taken back
  (and the next trial waits twice as long, so where more never helps a trial is rare).
- Others busy: above the latency budget, one frame fewer; a trial only where the latency would stay in budget
  even if the rate did not rise, kept only if it did stay there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (core-seconds every program on the machine has used, core-seconds this process has used), both since any origin
CpuClock = Callable[[], tuple[float, float]]


def cpu_clock() -> tuple[float, float]:
    import psutil

    t = psutil.cpu_times()
    busy = sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    return float(busy), time.process_time()


@dataclass(frozen=True, slots=True)
class FlightConfig:
    budget_ms: float = 50.0  # end-to-end latency (capture → sinks) the p95 must stay under on a shared machine
    window: int = 30  # delivered frames per measurement
    least: int = 1
    most: int = 3  # at most one frame per stage after tracking (app.runner)
    busy: float = 0.5  # other programs using this many cores make the machine shared
    gain: float = 1.05  # a trial is kept if the rate rose at least this much
    wait: int = 1  # windows before the first trial; doubled after each failed one
    max_wait: int = 64


@dataclass(frozen=True, slots=True)
class Window:
    """What one window of delivered frames measured."""

    limit: int
    p95_ms: float
    fps: float
    others: float  # cores other programs used meanwhile


class FlightControl:
    """Fed every delivered frame's latency; `limit` is how many frames the runner may have in flight."""

    def __init__(self, config: FlightConfig = FlightConfig(), clock: CpuClock = cpu_clock) -> None:
        self.config = config
        self.limit = config.least
        self._clock = clock
        self._latency: list[float] = []
        self._start: tuple[float, float, float] | None = None  # wall, all busy, own at the window's first frame
        self._rate: dict[int, float] = {}  # delivery rate last measured at each limit
        self._trial_from: int | None = None  # the limit a trial started from
        self._wait = self._countdown = config.wait
        self.windows: list[Window] = []  # every window, for logs and tests

    def observe(self, latency_ms: float, now_s: float) -> int:
        """One delivered frame: its latency and when it was delivered. Returns the limit from now on."""
        if self._start is None:
            self._start = (now_s, *self._clock())
            return self.limit  # this frame opens the window: the rate is measured between deliveries
        self._latency.append(latency_ms)
        if len(self._latency) < self.config.window:
            return self.limit
        busy, own = self._clock()
        t0, busy0, own0 = self._start
        wall = max(now_s - t0, 1e-9)
        window = Window(self.limit, float(np.percentile(self._latency, 95)), len(self._latency) / wall,
                        max(0.0, (busy - busy0) - (own - own0)) / wall)
        self._latency.clear()
        self._start = (now_s, busy, own)
        self.windows.append(window)
        self._decide(window)
        return self.limit

    def _decide(self, w: Window) -> None:
        c = self.config
        shared = w.others >= c.busy
        self._rate[w.limit] = w.fps
        if self._trial_from is not None:  # a trial window just ended
            before, self._trial_from = self._trial_from, None
            slower = w.fps < self._rate.get(before, 0.0) * c.gain
            if slower or (shared and w.p95_ms > c.budget_ms):
                self._wait = min(2 * self._wait, c.max_wait)
                self._countdown = self._wait
                self.limit = before
            else:
                self._wait = self._countdown = c.wait
            return
        if shared and w.p95_ms > c.budget_ms and self.limit > c.least:
            self.limit -= 1
            self._countdown = self._wait
            return
        self._countdown -= 1
        # shared: a trial only where even no gain in rate would keep the latency in budget (it grows with the
        # frames in flight): on a busy machine one more frame in flight rarely buys rate, and a failed trial costs
        # a window of late frames
        fits = w.p95_ms * (self.limit + 1) / self.limit <= c.budget_ms
        if self._countdown <= 0 and self.limit < c.most and (not shared or fits):
            self._trial_from = self.limit
            self.limit += 1
