"""`reenact bench --load N`: N busy processes beside the timed run, as a call app and a browser take cores.

Each is a plain Python loop in a process of its own, pinned to one core where the OS allows it (process i to the
i-th core this process may use), so "one core taken" is the same condition on every run. They stop when the bench
stops them, and on their own if the bench dies (they watch their parent).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from types import TracebackType

import psutil

SPIN = """
import os, sys
parent = os.getppid()
sys.stdout.write("spinning\\n")
sys.stdout.close()
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


@dataclass(slots=True)
class LoadRecord:
    """What the busy processes were and what they took, for the report."""

    processes: int
    pinned_to: list[int] | None  # the core of each, or None where the OS cannot pin
    cpu_s: list[float] = field(default_factory=list)  # CPU seconds each used while it ran


class BusyLoad:
    """A context manager: `processes` busy loops run inside it."""

    def __init__(self, processes: int) -> None:
        self.record = LoadRecord(processes, None)
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyLoad:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pinned: list[int] | None = [] if cores and hasattr(os, "sched_setaffinity") else None
        try:
            for i in range(self.record.processes):
                proc = subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                self._procs.append(proc)
                if pinned is not None:
                    core = cores[i % len(cores)]
                    try:
                        os.sched_setaffinity(proc.pid, {core})
                        pinned.append(core)
                    except OSError:
                        pinned = None
            for proc in self._procs:  # the timed run starts once every loop spins, not while they start up
                assert proc.stdout is not None
                proc.stdout.readline()
                proc.stdout.close()
        except BaseException:
            self._stop()
            raise
        self.record.pinned_to = pinned
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()

    def _stop(self) -> None:
        for proc in self._procs:
            try:
                times = psutil.Process(proc.pid).cpu_times()
                self.record.cpu_s.append(round(times.user + times.system, 3))
            except psutil.Error:
                self.record.cpu_s.append(0.0)
            proc.kill()
        for proc in self._procs:
            proc.wait()
        self._procs.clear()
