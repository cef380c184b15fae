"""The app's own CPU use, as a share of the whole machine: what is left is what the call itself gets.

A video call encodes and decodes video on the same cores; a user who sees reenact taking 70 % knows to pick a
lower output rate or size before the call stutters. psutil's per-process figure counts each core as 100 %, so it
is divided by the number of cores.
"""

from __future__ import annotations

import psutil


class CpuMeter:
    """Average CPU use of this process between two `sample()` calls (the first call: since the meter was made)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.cores = psutil.cpu_count() or 1
        self._process.cpu_percent(None)  # starts the interval

    def sample(self) -> float:
        """Percent of the machine's total CPU (0–100) this process used since the last sample."""
        return min(100.0, self._process.cpu_percent(None) / self.cores)
