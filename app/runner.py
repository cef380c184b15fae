"""The per-frame path overlapped across frames: the one threaded runner behind `reenact app`, `bench` and `demo`.

Run one after the other, landmarks, network and paste-back leave a core idle most of the time on a two-core
machine, and when another program takes a core every stage waits for the slowest pool. Here each stage has a thread
of its own and frames move through them in order, one frame per stage at a time:

    tracking thread   landmarks → motion → warp grid     frame t+3
    model thread      the network's refinement            frame t+2
    paste thread      paste-back at full resolution       frame t+1
    output thread     `deliver`: framing, sinks           frame t

Stages hand frames on through Handoffs (the producer waits: no queue grows between stages), so at most four frames
are in flight and latency stays bounded; a live source admits as many as app.flight finds worth their latency. The tracking thread takes a new input frame only once the model thread has
taken the previous one, and times the take so that tracking ends about when the network becomes free: a frame never
waits half-made while the network is busy, and the frame taken is the newest the camera has. Frames are dropped
only at the input (a LatestSlot the capture thread fills), before any work is spent on them. An input that waits instead (a Handoff) gets every frame processed in
order. Settings that change the pipeline (a new avatar, calibration, paste on or off) run on the tracking thread
while no frame is in flight, so no frame is ever made half with the old setting and half with the new.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from reenact.app.capture import Captured
from reenact.app.flight import FlightControl
from reenact.app.handoff import Handoff
from reenact.engine.pipeline import Pipeline, StepResult, Tracked, Warped

log = logging.getLogger(__name__)
POLL_S = 0.05  # how often an idle stage looks for a stop request or a command
EMA = 0.1  # weight of the newest duration in the stages' running means
MAX_IN_FLIGHT = 4  # one frame per stage thread: a setting shows from the frame after these at the latest
# A live source admits as many as app.flight finds worth their latency (Little's law: frames in flight ÷
# throughput); the offline demo, where only throughput counts, takes all four.


class FrameInput(Protocol):
    """Where the runner takes frames from: a LatestSlot (stale frames dropped) or a Handoff (every frame)."""

    def take(self, timeout: float | None = None) -> Captured | None: ...


@dataclass(slots=True)
class FrameJob:
    """One driving frame on its way through the stages; each stage fills in its part."""

    captured: Captured
    image: NDArray[np.uint8]  # the frame as the pipeline sees it (mirrored, when the user mirrors)
    animate: bool = True  # False: no pipeline work (no avatar yet, or passthrough); `deliver` still gets it
    timestamp_s: float | None = None  # the tracker's clock (a file's own times); None: when it was captured
    tracked: Tracked | None = None
    warped: Warped | None = None
    layers: dict[str, NDArray[np.float32]] | None = None
    result: StepResult | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)  # FRAME_STAGES that ran

    def latency_ms(self) -> float:
        """From the frame's capture until now (`deliver` asks once the sinks have it)."""
        return (time.perf_counter() - self.captured.captured_at) * 1000.0


def admit_all(captured: Captured) -> FrameJob | None:
    """The default admission: every frame taken is animated as it is."""
    return FrameJob(captured, captured.frame.image)


class PipelinedRunner:
    """Runs `pipeline` over the frames of `frames` on four threads; `deliver` gets each finished job, in order.

    `admit` (tracking thread) turns a captured frame into a job, or None to leave it out (an output rate). `deliver`
    (output thread) sends the result on and records `timings_ms["output"]` itself if it wants the output timed.
    `commands` are callables run between frames with none in flight. `on_error` hears a frame that failed (the
    frame is skipped, the run goes on); `on_idle` runs on the tracking thread when no frame came in POLL_S.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        frames: FrameInput,
        deliver: Callable[[FrameJob], None],
        *,
        admit: Callable[[Captured], FrameJob | None] = admit_all,
        commands: queue.Queue[Callable[[], None]] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.frames = frames
        self.deliver = deliver
        self.admit = admit
        self.commands = commands if commands is not None else queue.Queue()
        self.on_error = on_error or (lambda exc: log.error("a frame could not be processed: %s", exc))
        self.on_idle = on_idle
        # Frames admitted at once: a fixed number, or (None) as many as the flight control finds worth their latency
        # on this machine now (app.flight).
        self.flight = FlightControl() if max_in_flight is None else None
        self._fixed = 1 if max_in_flight is None else max(1, min(max_in_flight, MAX_IN_FLIGHT))
        self.delivered = 0
        self.failed = 0
        self._in_flight = 0
        self._flight = threading.Condition()
        self._to_model: Handoff[FrameJob] = Handoff()
        self._to_paste: Handoff[FrameJob] = Handoff()
        self._to_output: Handoff[FrameJob] = Handoff()
        self._track_s = 0.0  # running mean of the tracking stage's duration
        self._model_s = 0.0  # running mean of the model stage's duration
        self._model_since: float | None = None  # when the model stage began its current frame; None when idle

    @property
    def max_in_flight(self) -> int:
        """How many frames may be in flight now: the fixed number, or the flight control's current limit."""
        return self.flight.limit if self.flight is not None else self._fixed

    @property
    def in_flight(self) -> int:
        """Frames admitted and not yet delivered (or failed): never more than one per stage."""
        with self._flight:
            return self._in_flight

    def run(self, halt: threading.Event, ended: Callable[[], bool] | None = None) -> None:
        """Process frames on this thread (tracking) and three more until `halt` is set, or until `ended()` says the
        input has no more frames and every frame taken has been delivered."""
        chain = [(self._to_model, self._refine, self._to_paste, "model"),
                 (self._to_paste, self._paste, self._to_output, "paste"),
                 (self._to_output, self._finish, None, "output")]
        workers = [threading.Thread(target=self._stage, args=(inbox, work, outbox), name=f"reenact-{name}",
                                    daemon=True) for inbox, work, outbox, name in chain]
        for w in workers:
            w.start()
        finished = False
        try:
            self._track_until(halt, ended)
            finished = True
        finally:
            if finished and not halt.is_set():  # the input ended: let the last frames through
                self._wait_idle(halt)
            # otherwise stopped, or interrupted (Ctrl-C, SIGTERM raise here): frames in flight are dropped
            for inbox, *_ in chain:
                inbox.close()
            for w in workers:
                w.join()

    # The tracking thread -----------------------------------------------------------------------------------------
    def _track_until(self, halt: threading.Event, ended: Callable[[], bool] | None) -> None:
        while not halt.is_set():
            if not self.commands.empty():
                self._wait_idle(halt)
                self._drain_commands()
            if not self._to_model.wait_empty(POLL_S) or not self._room(POLL_S):
                continue  # the network is still busy with the frame before: a frame taken now would only wait
            if (delay := self._until_model_free()) > 0:
                halt.wait(delay)
                continue  # look at commands and the stop request again, then take the newest frame
            captured = self.frames.take(POLL_S)
            if captured is None:
                if self.on_idle is not None:
                    self.on_idle()
                if ended is not None and ended():
                    return
                continue
            job = self._guard(self.admit, captured)
            if job is None:
                continue
            with self._flight:
                self._in_flight += 1
            if job.animate and not self._guard(self._track, job):
                self._done(job, ok=False)
                continue
            if not self._to_model.put(job):
                self._done(job, ok=False)
                return

    def _until_model_free(self) -> float:
        """Seconds to wait before taking a frame so that its tracking ends as the network finishes the one before
        (a little early rather than late: a late frame costs throughput, an early one only latency)."""
        since = self._model_since
        if since is None:
            return 0.0
        return min(since + 0.9 * self._model_s - 1.1 * self._track_s - time.perf_counter(), POLL_S)

    def _track(self, job: FrameJob) -> bool:
        t0 = time.perf_counter()
        try:
            return self._track_frame(job)
        finally:
            self._track_s = _mean(self._track_s, time.perf_counter() - t0)

    def _track_frame(self, job: FrameJob) -> bool:
        pipe = self.pipeline
        if pipe.avatar is None:  # no avatar (yet): the frame goes through untouched
            job.animate = False
            return True
        t = job.timestamp_s if job.timestamp_s is not None else job.captured.captured_at
        job.tracked = pipe.track(job.image, t)
        job.warped = pipe.warp(job.tracked.target, job.tracked.driving, job.tracked.timings_ms)
        return True

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self._guard(command)

    def _room(self, timeout: float) -> bool:
        """Wait until fewer than `max_in_flight` frames are in flight; whether there is room now."""
        with self._flight:
            return self._flight.wait_for(lambda: self._in_flight < self.max_in_flight, timeout)

    def _wait_idle(self, halt: threading.Event) -> None:
        with self._flight:
            while self._in_flight and not halt.is_set():
                self._flight.wait(POLL_S)

    # The model and output threads --------------------------------------------------------------------------------
    def _stage(self, inbox: Handoff[FrameJob], work: Callable[[FrameJob], object],
               outbox: Handoff[FrameJob] | None) -> None:
        while True:
            job = inbox.take(POLL_S)
            if job is None:
                if inbox.closed:
                    return
                continue
            if self._guard(work, job) is None:
                self._done(job, ok=False)
            elif outbox is None:
                self._done(job, ok=True)
            elif not outbox.put(job):
                self._done(job, ok=False)

    def _refine(self, job: FrameJob) -> bool:
        if job.animate and job.warped is not None:
            t0 = self._model_since = time.perf_counter()
            try:
                job.layers = self.pipeline.refine(job.warped)
            finally:
                self._model_since = None
                self._model_s = _mean(self._model_s, time.perf_counter() - t0)
        return True

    def _paste(self, job: FrameJob) -> bool:
        if job.animate and job.warped is not None:
            job.result = self.pipeline.compose(job.warped, job.layers)
            job.timings_ms.update(job.result.timings_ms)
        return True

    def _finish(self, job: FrameJob) -> bool:
        job.timings_ms["capture"] = job.captured.capture_ms
        self.deliver(job)
        return True

    def _done(self, job: FrameJob, ok: bool) -> None:
        with self._flight:
            self._in_flight -= 1
            if ok:
                self.delivered += 1
                if self.flight is not None:
                    self.flight.observe(job.latency_ms(), time.perf_counter())
            else:
                self.failed += 1
            self._flight.notify_all()

    def _guard(self, fn: Callable[..., object], *args: object) -> object:
        """`fn(*args)`, or None after telling `on_error` (a bad frame or command must not end the run)."""
        try:
            return fn(*args)
        except Exception as exc:
            try:
                self.on_error(exc)
            except Exception:
                log.exception("reporting an error failed")
            return None


def _mean(mean: float, sample: float) -> float:
    return sample if mean == 0.0 else (1.0 - EMA) * mean + EMA * sample
