"""The pipelined runner: every frame in order from a waiting input, stale frames dropped (never queued) from a
newest-only one, settings applied with no frame in flight, a bad frame skipped. Real MediaPipe and the real warp."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest

from reenact.app.capture import Captured, CaptureThread
from reenact.app.handoff import Handoff
from reenact.app.latest import LatestSlot
from reenact.app.runner import MAX_IN_FLIGHT, FrameJob, PipelinedRunner
from reenact.engine.pipeline import Pipeline
from tests.app.conftest import ClipSource


@pytest.fixture
def pipe(mona_lisa: np.ndarray):
    with Pipeline() as pipeline:  # no network: the analytic warp, MediaPipe landmarks, full-resolution paste
        pipeline.prepare(mona_lisa, "mona_lisa")
        yield pipeline


def _run(pipe: Pipeline, frames, capture: CaptureThread, **kw) -> tuple[PipelinedRunner, list[FrameJob], list[int]]:
    delivered: list[FrameJob] = []
    in_flight: list[int] = []

    def deliver(job: FrameJob) -> None:
        in_flight.append(runner.in_flight)
        delivered.append(job)

    runner = PipelinedRunner(pipe, frames, deliver, **kw)
    capture.start()
    runner.run(threading.Event(), ended=lambda: capture.ended.is_set() and not frames.pending)
    capture.join(5)
    return runner, delivered, in_flight


def test_a_waiting_input_gets_every_frame_animated_in_order(pipe: Pipeline, clip_frames: list[np.ndarray]) -> None:
    frames: Handoff[Captured] = Handoff()
    capture = CaptureThread(ClipSource(clip_frames[:30], fps=1000.0), frames, paced=False)
    runner, delivered, in_flight = _run(pipe, frames, capture)
    assert [j.captured.frame.index for j in delivered] == list(range(30))
    assert all(j.result is not None and j.result.face_found for j in delivered)
    assert {"landmarks", "motion", "warp", "model", "paste", "capture"} <= set(delivered[-1].timings_ms)
    assert max(in_flight) <= MAX_IN_FLIGHT and runner.in_flight == 0 and runner.failed == 0
    # the same frames through Pipeline.step one after the other, at the same times, give the same pictures
    with Pipeline() as alone:
        alone.prepare(pipe.avatar.image, "again")
        same = [np.array_equal(alone.step(clip_frames[j.captured.frame.index], j.captured.captured_at).image,
                               j.result.image) for j in delivered]
    assert all(same)


def test_a_newest_only_input_drops_stale_frames_and_never_queues(pipe: Pipeline, clip_frames) -> None:
    frames: LatestSlot[Captured] = LatestSlot()
    capture = CaptureThread(ClipSource(clip_frames[:120], fps=500.0), frames, paced=False)  # faster than the CPU
    runner, delivered, in_flight = _run(pipe, frames, capture)
    indices = [j.captured.frame.index for j in delivered]
    assert indices == sorted(set(indices)) and len(indices) >= 2  # never an older frame after a newer one
    assert frames.dropped > 0 and len(indices) + frames.dropped == 120  # each frame delivered or dropped at input
    assert max(np.diff(indices)) > 1
    assert max(in_flight) <= MAX_IN_FLIGHT  # nothing piles up between the stages


def test_commands_run_with_no_frame_in_flight_and_a_bad_frame_is_skipped(pipe: Pipeline, clip_frames) -> None:
    frames: Handoff[Captured] = Handoff()
    commands: queue.Queue = queue.Queue()
    seen_in_flight: list[int] = []
    errors: list[BaseException] = []

    def admit(captured: Captured) -> FrameJob:
        if captured.frame.index == 5:
            commands.put(lambda: seen_in_flight.append(runner_box[0].in_flight))
            commands.put(lambda: pipe.set_paste(False))  # the crop view from the next frame on
        if captured.frame.index == 12:
            raise ValueError("frame 12 is broken")
        return FrameJob(captured, captured.frame.image)

    runner_box: list[PipelinedRunner] = []
    delivered: list[FrameJob] = []
    runner = PipelinedRunner(pipe, frames, delivered.append, admit=admit, commands=commands,
                             on_error=errors.append)
    runner_box.append(runner)
    capture = CaptureThread(ClipSource(clip_frames[:20], fps=1000.0), frames, paced=False)
    capture.start()
    runner.run(threading.Event(), ended=lambda: capture.ended.is_set() and not frames.pending)
    indices = [j.captured.frame.index for j in delivered]
    assert indices == [i for i in range(20) if i != 12]
    assert len(errors) == 1 and "frame 12" in str(errors[0])
    assert seen_in_flight == [0]
    sizes = {j.captured.frame.index: j.result.image.shape for j in delivered}
    crop = pipe.size
    assert sizes[0] == pipe.avatar.image.shape and sizes[19] == (crop, crop, 3)
    # every frame after the command was made wholly with the new setting, every frame before with the old one
    switched = [i for i in indices if sizes[i] == (crop, crop, 3)]
    assert switched == [i for i in indices if i >= switched[0]] and 5 < switched[0] <= 7


def test_handoff_waits_instead_of_queueing() -> None:
    box: Handoff[int] = Handoff()
    assert box.put(1)
    second = threading.Thread(target=box.put, args=(2,))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # the producer waits for the consumer: no second value is held
    assert box.take(0) == 1
    second.join(5)
    assert box.take(0) == 2 and box.take(0) is None
    box.close()
    assert box.put(3) is False and box.take(0) is None


def test_an_interrupt_on_the_tracking_thread_ends_the_run_and_its_threads(pipe: Pipeline, clip_frames,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real_track = pipe.track

    def track(frame, timestamp_s=None):
        if pipe.frames == 5:  # mid-frame, as Ctrl-C (or the CLI's SIGTERM handler) raises in the main thread
            raise KeyboardInterrupt
        return real_track(frame, timestamp_s)

    monkeypatch.setattr(pipe, "track", track)
    frames: Handoff[Captured] = Handoff()
    delivered: list[FrameJob] = []
    runner = PipelinedRunner(pipe, frames, delivered.append)
    capture = CaptureThread(ClipSource(clip_frames[:20], fps=1000.0), frames, paced=False)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(threading.Event(), ended=lambda: capture.ended.is_set() and not frames.pending)
        except BaseException as exc:
            raised.append(exc)

    capture.start()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    capture.stop()
    capture.join(5)
    assert not thread.is_alive(), "the run did not end after the interrupt"
    assert len(raised) == 1 and isinstance(raised[0], KeyboardInterrupt)
    assert [j.captured.frame.index for j in delivered] == list(range(len(delivered))) and len(delivered) <= 5
    assert not [t for t in threading.enumerate() if t.name in ("reenact-model", "reenact-paste", "reenact-output")]


def test_max_in_flight_bounds_the_frames_between_input_and_output(pipe: Pipeline, clip_frames) -> None:
    frames: Handoff[Captured] = Handoff()
    capture = CaptureThread(ClipSource(clip_frames[:12], fps=1000.0), frames, paced=False)
    runner, delivered, in_flight = _run(pipe, frames, capture, max_in_flight=1)
    assert [j.captured.frame.index for j in delivered] == list(range(12))
    assert max(in_flight) == 1  # one frame at a time: the stages still have their threads, without overlap
