"""A one-value handover between two pipeline stages that waits instead of queueing or dropping.

Between the stages of one frame's path nothing may pile up (latency would grow) and nothing may be lost (a frame
half-made would be wasted work): the producer waits until the consumer has taken the previous value. Frames are
dropped only at the input, by a LatestSlot, before any work is spent on them.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """Holds at most one value; `put` waits until the slot is free, `take` until a value comes; `close` ends both."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self._full = False
        self._closed = False

    def put(self, value: T) -> bool:
        """Hand `value` on, waiting for the consumer to take the previous one. False when closed (not handed on)."""
        with self._cond:
            while self._full and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._value, self._full = value, True
            self._cond.notify_all()
            return True

    def take(self, timeout: float | None = None) -> T | None:
        """The value handed on, or None after `timeout` seconds (0: do not wait) or once closed and empty."""
        with self._cond:
            if not self._full and not self._closed and timeout != 0:
                self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            value, self._value, self._full = self._value, None, False
            self._cond.notify_all()
            return value

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until the consumer has taken the value (or the handoff closed); whether the slot is free."""
        with self._cond:
            self._cond.wait_for(lambda: not self._full or self._closed, timeout)
            return not self._full

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._full

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def close(self) -> None:
        """Wake every waiter; a put now returns False, a take returns what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
