"""The worker: newest-frame capture (stale frames dropped), source ending, smoothing and backend choice."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from reenact.app.capture import CaptureThread
from reenact.app.frames import Frame
from reenact.app.latest import LatestSlot
from reenact.app.outputs import OutputFormat
from reenact.app.worker import (
    PipelineWorker,
    SourceSpec,
    WorkerOptions,
    choose_backend,
    smoothing_config,
)
from reenact.engine.assets import AVATARS_DIR
from reenact.engine.errors import ReenactError


class ListSource:
    """A finite in-memory source that delivers at `fps`, as a camera paces itself."""

    def __init__(self, frames: list[np.ndarray], fps: float = 1000.0) -> None:
        self.frames, self.fps = frames, fps
        self.reads = 0
        self.closed = False

    def read(self) -> Frame | None:
        if self.closed or self.reads >= len(self.frames):
            return None
        time.sleep(1.0 / self.fps)
        frame = Frame(self.frames[self.reads], self.reads, self.reads)
        self.reads += 1
        return frame

    def close(self) -> None:
        self.closed = True


def test_latest_slot_keeps_the_newest_value() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(0) is None
    for i in range(5):
        slot.put(i)
    assert slot.take(0) == 4 and slot.dropped == 4 and slot.take(0) is None


def test_a_slow_consumer_gets_the_newest_frames_and_skips_stale_ones(clip_frames: list[np.ndarray]) -> None:
    source = ListSource(clip_frames[:120], fps=1000.0)  # a camera much faster than the model
    slot: LatestSlot = LatestSlot()
    capture = CaptureThread(source, slot, paced=False)
    capture.start()
    taken: list[int] = []
    while (item := slot.take(0.5)) is not None or not capture.ended.is_set() or slot.pending:
        if item is not None:
            taken.append(item.frame.index)
            time.sleep(0.01)  # a model slower than the camera
    capture.join(5)
    assert taken == sorted(set(taken))  # never an older frame after a newer one
    assert slot.dropped > 0 and len(taken) + slot.dropped == 120  # every frame either processed or dropped
    assert max(np.diff(taken)) > 1  # stale frames were skipped, not queued


def test_smoothing_strength() -> None:
    assert not smoothing_config(0).enabled
    cutoffs = [smoothing_config(s).min_cutoff for s in (1, 25, 50, 75, 100)]
    assert cutoffs == sorted(cutoffs, reverse=True)  # stronger = lower cut-off = smoother
    assert smoothing_config(50).min_cutoff == pytest.approx(1.0)  # the middle is the engine's default


def test_backend_auto_without_weights_is_the_analytic_warp(tmp_path: Path) -> None:
    backend, reason = choose_backend("auto", tmp_path / "missing.pt")
    assert backend is None and reason == f"no model weights at {tmp_path / 'missing.pt'}"
    with pytest.raises(ReenactError, match="weights not found"):
        choose_backend("torch", tmp_path / "missing.pt")


def test_source_ending_is_reported_and_the_source_released(qtbot, clip_frames: list[np.ndarray]) -> None:
    worker = PipelineWorker(WorkerOptions(weights=Path("/nonexistent/weights.pt")))
    source = ListSource(clip_frames[:10], fps=24.0)
    messages: list[tuple[str, str]] = []
    worker.message.connect(lambda level, text: messages.append((level, text)))
    with qtbot.waitSignal(worker.avatar_ready, timeout=30000):
        worker.set_avatar(AVATARS_DIR / "mona_lisa.jpg")
        worker.start()
    with qtbot.waitSignal(worker.source_ended, timeout=30000) as ended:
        worker.use_source(source, SourceSpec("camera", camera=7))
    assert "Camera 7 stopped sending frames" in ended.args[0]
    qtbot.waitUntil(lambda: bool(messages), timeout=5000)
    assert messages[-1][0] == "warning" and source.closed and worker.source is None
    assert worker.running  # the app keeps going: another source can be picked
    assert worker.frames_processed > 0
    worker.stop()
    assert not worker.running


def test_a_no_face_avatar_is_refused_and_the_previous_one_kept(qtbot, no_face_image: Path) -> None:
    worker = PipelineWorker(WorkerOptions(weights=Path("/nonexistent/weights.pt")))
    with qtbot.waitSignal(worker.avatar_ready, timeout=30000):
        worker.set_avatar(AVATARS_DIR / "astronaut.jpg")
        worker.start()
    kept = worker.pipeline.avatar
    with qtbot.waitSignal(worker.message, timeout=30000) as msg:
        worker.set_avatar(no_face_image)
    assert msg.args[0] == "error" and "no face" in msg.args[1] and str(no_face_image) in msg.args[1]
    assert worker.pipeline.avatar is kept
    worker.stop()


def test_the_pipeline_skips_to_the_newest_frame_when_the_camera_is_faster(qtbot, clip_frames) -> None:
    worker = PipelineWorker(WorkerOptions(weights=Path("/nonexistent/weights.pt")))
    seen: list[int] = []

    def take() -> None:
        if (result := worker.results.take(0)) is not None:
            seen.append(result.index)

    worker.result_ready.connect(take)
    with qtbot.waitSignal(worker.avatar_ready, timeout=30000):
        worker.set_avatar(AVATARS_DIR / "mona_lisa.jpg")
        worker.start()
    source = ListSource(clip_frames[:150], fps=400.0)  # far faster than landmarks + warp on a CPU
    with qtbot.waitSignal(worker.source_ended, timeout=60000):
        worker.use_source(source, SourceSpec("camera", camera=0))
    worker.stop()
    assert seen == sorted(seen) and len(seen) >= 2
    assert worker.frames_processed < 150 and max(np.diff(seen)) > 1  # stale frames were dropped, not queued
    assert worker.frames_dropped > 0


def test_processing_keeps_to_the_chosen_output_rate(qtbot, clip_frames) -> None:
    worker = PipelineWorker(WorkerOptions(weights=Path("/nonexistent/weights.pt")))
    worker.set_output(OutputFormat(640, 480, 10))
    with qtbot.waitSignal(worker.avatar_ready, timeout=30000):
        worker.set_avatar(AVATARS_DIR / "mona_lisa.jpg")
        worker.start()
    source = ListSource(clip_frames[:60], fps=100.0)  # a 100 fps camera, a 10 fps virtual camera
    t0 = time.perf_counter()
    with qtbot.waitSignal(worker.source_ended, timeout=60000):
        worker.use_source(source, SourceSpec("camera", camera=0))
    elapsed = time.perf_counter() - t0
    worker.stop()
    # Never more than the output rate (plus the first frame and a quarter period of slack), on the worker's clock.
    assert 1 <= worker.frames_processed <= elapsed * 10 + 1.25
    assert worker.rate_skipped > 0


def test_frame_stats_give_the_fps_and_the_p95_latency_of_recent_frames() -> None:
    from reenact.app.rates import LATENCY_WINDOW, FrameStats

    stats = FrameStats()
    assert stats.fps == 0.0 and stats.latency_p95_ms == 0.0
    for i in range(LATENCY_WINDOW + 20):  # a frame every 40 ms; the old ones (latency 500 ms) leave the window
        done = i * 0.040
        assert stats.delivered(done - (0.5 if i < 20 else 0.030 + 0.001 * (i % 10)), done) > 0
    assert stats.fps == pytest.approx(25.0)
    assert stats.latency_p95_ms == pytest.approx(39.0, abs=0.6)  # 30–39 ms, never the 500 ms of the first frames
    assert stats.frames == LATENCY_WINDOW + 20
