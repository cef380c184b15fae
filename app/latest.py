"""A newest-only slot between a producer and a consumer that run at different rates.

Queueing every item would make latency grow whenever the consumer is slower; the slot instead replaces what was not
taken yet and counts it as dropped. Capture → processing, processing → UI and the preview sink all hand over this way.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds one value; `put` replaces what was not taken yet (counted in `dropped`), `take` waits for one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self.dropped = 0

    def put(self, value: T) -> None:
        with self._cond:
            if self._value is not None:
                self.dropped += 1
            self._value = value
            self._cond.notify_all()

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._value is not None

    def take(self, timeout: float | None = None) -> T | None:
        with self._cond:
            if self._value is None and timeout != 0:
                self._cond.wait(timeout)
            value, self._value = self._value, None
        return value
