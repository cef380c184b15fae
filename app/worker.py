"""The pipeline off the UI thread: capture → newest frame → Pipeline.step → output sinks, with timings.

Two threads. The capture thread reads the source at its own pace and keeps only the newest frame in a slot; the
processing thread takes whatever is newest when it is ready. When the model is slower than the camera, stale frames
are dropped instead of queued, so latency stays one frame deep instead of growing. The UI talks to the processing
thread only through a command queue (applied between frames) and reads results from a newest-only slot after a
signal, so a slow repaint can never back the pipeline up either.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QObject, pyqtSignal

from reenact.app.frames import Frame
from reenact.app.framing import fit_to_frame
from reenact.app.latest import LatestSlot
from reenact.app.sinks import PacedSink, PreviewSink, VideoFileSink, VirtualCameraSink
from reenact.app.sources import CameraSource, FrameSource, VideoFileSource
from reenact.engine.assets import DEFAULT_WEIGHTS, load_image
from reenact.engine.atomic import check_output_path
from reenact.engine.backends.base import Backend
from reenact.engine.config import OneEuroConfig, PipelineConfig
from reenact.engine.errors import ReenactError
from reenact.engine.pipeline import Pipeline

log = logging.getLogger(__name__)
STAGES = ("capture", "landmarks", "model", "paste", "output")


@dataclass(frozen=True, slots=True)
class Captured:
    frame: Frame
    captured_at: float  # time.perf_counter() when the frame was read
    capture_ms: float  # time spent reading and decoding it


class CaptureThread(threading.Thread):
    """Reads a source into a LatestSlot. Files are paced at their fps (a camera paces itself)."""

    def __init__(self, source: FrameSource, slot: LatestSlot[Captured], paced: bool) -> None:
        super().__init__(name="reenact-capture", daemon=True)
        self.source, self.slot, self.paced = source, slot, paced
        self.ended = threading.Event()  # the source gave no more frames (file end, camera gone)
        self.error: str | None = None
        self.frames = 0
        self._halt = threading.Event()

    def run(self) -> None:
        period = 1.0 / max(self.source.fps, 1.0)
        due = time.perf_counter()
        while not self._halt.is_set():
            t0 = time.perf_counter()
            try:
                frame = self.source.read()
            except Exception as exc:  # a driver error must end the stream with a message, never kill the app
                log.exception("reading the driving source failed")
                self.error = str(exc) or type(exc).__name__
                frame = None
            t1 = time.perf_counter()
            if frame is None:
                self.ended.set()
                return
            self.frames += 1
            self.slot.put(Captured(frame, t1, (t1 - t0) * 1000.0))
            if self.paced:
                due += period
                delay = due - time.perf_counter()
                if delay > 0:
                    self._halt.wait(delay)
                elif delay < -period:  # fell behind (slow decode): do not burst to catch up
                    due = time.perf_counter()

    def stop(self) -> None:
        self._halt.set()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Which driving source to open: a camera by index or a video file (looped)."""

    kind: str  # "camera" | "file"
    camera: int = 0
    path: Path | None = None

    def describe(self) -> str:
        return f"camera {self.camera}" if self.kind == "camera" else (self.path.name if self.path else "no file")


def open_source(spec: SourceSpec) -> FrameSource:
    if spec.kind == "camera":
        return CameraSource(spec.camera)
    if spec.path is None:
        raise ReenactError("no driving video chosen")
    return VideoFileSource(spec.path, loop=True)


@dataclass(frozen=True, slots=True)
class OutputFormat:
    width: int = 640
    height: int = 480
    fps: int = 30


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    backend: str = "auto"
    weights: Path = DEFAULT_WEIGHTS
    virtual_camera_backend: str | None = None  # None: pyvirtualcam picks the OS's camera


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """One processed driving frame, for the UI."""

    index: int
    driving: NDArray[np.uint8]  # the driving frame as processed (mirrored when mirror is on)
    landmarks: NDArray[np.float32] | None  # driving landmarks in its pixels, None when no face
    animated: bool  # False while no avatar is ready
    timings_ms: dict[str, float] = field(default_factory=dict)  # STAGES
    fps: float = 0.0
    latency_ms: float = 0.0  # from the frame's capture to the end of its output
    dropped: int = 0  # driving frames skipped so far because a newer one was waiting
    clamped: bool = False  # the head turned or moved further than the warp follows: its motion was limited


def smoothing_config(strength: int) -> OneEuroConfig:
    """0 = off; 50 = the default filter; 100 = heavy smoothing (more lag). Geometric in the cut-off frequency."""
    strength = max(0, min(100, int(strength)))
    if strength == 0:
        return replace(OneEuroConfig(), enabled=False)
    return replace(OneEuroConfig(), min_cutoff=float(10.0 ** (1.0 - 2.0 * strength / 100.0)))


def choose_backend(kind: str, weights: Path) -> Backend | None:
    """The model backend, or None (analytic warp) when `auto` finds no weights (a checkpoint or an export folder)."""
    if not Path(weights).exists():
        if kind == "auto":
            return None
        raise ReenactError("model weights not found (use --backend auto to run the analytic warp)", weights)
    from reenact.engine.backends import load_backend

    return load_backend(kind, weights)


class PipelineWorker(QObject):
    """Owns the source, the pipeline and the sinks; all of them live on its thread."""

    result_ready = pyqtSignal()  # a new WorkerResult (and/or preview frame) waits in `results` / `preview`
    message = pyqtSignal(str, str)  # level ("info" | "warning" | "error"), text
    backend_ready = pyqtSignal(str, str)  # what runs the animation, in words; why it was chosen
    source_ready = pyqtSignal(str)  # the driving source now in use
    source_ended = pyqtSignal(str)  # why frames stopped
    avatar_ready = pyqtSignal(str)  # path of the avatar now animated
    calibrated = pyqtSignal(bool)
    virtual_camera_changed = pyqtSignal(bool, str)  # on, device
    recording_changed = pyqtSignal(bool, str)  # on, path
    stopped = pyqtSignal()

    def __init__(self, options: WorkerOptions | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.options = options or WorkerOptions()
        self.results: LatestSlot[WorkerResult] = LatestSlot()
        self.preview = PreviewSink()  # the output frames, exactly as the virtual camera and recording get them
        self.pipeline: Pipeline | None = None
        self.backend: Backend | None = None
        self.mode_description = ""
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._frames: LatestSlot[Captured] = LatestSlot()
        self._capture: CaptureThread | None = None
        self._source: FrameSource | None = None
        self._source_spec: SourceSpec | None = None
        self._end_reported = False
        self._mirror = True
        self._output = OutputFormat()
        self._vcam: VirtualCameraSink | None = None
        self._recorder: PacedSink | None = None
        self._record_path: Path | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval_ema: float | None = None
        self._last_done: float | None = None
        self.frames_processed = 0
        self.rate_skipped = 0  # frames left out to keep to the output rate
        self._next_due: float | None = None
        self._last_error = ""

    # Called from the UI thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="reenact-pipeline", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop processing, release the source and close every sink (finishing a recording). Idempotent."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the pipeline thread did not stop within %.0f s", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def frames_dropped(self) -> int:
        """Driving frames skipped because a newer one was already waiting."""
        return self._frames.dropped

    @property
    def source(self) -> FrameSource | None:
        return self._source

    def set_source(self, spec: SourceSpec) -> None:
        self._commands.put(lambda: self._open_source(spec))

    def use_source(self, source: FrameSource, spec: SourceSpec) -> None:
        """Drive from a source opened elsewhere (`spec` says how to describe and pace it); the worker closes it."""
        self._commands.put(lambda: self._use_source(source, spec))

    def set_avatar(self, path: str | Path) -> None:
        self._commands.put(lambda: self._prepare_avatar(Path(path)))

    def calibrate(self) -> None:
        self._commands.put(self._calibrate)

    def set_motion(self, mode: str) -> None:
        self._commands.put(lambda: self._with_pipeline(
            lambda p: p.set_motion(replace(p.config.motion, mode=mode))))

    def set_smoothing(self, strength: int) -> None:
        self._commands.put(lambda: self._with_pipeline(lambda p: p.set_smoothing(smoothing_config(strength))))

    def set_paste(self, enabled: bool) -> None:
        self._commands.put(lambda: self._with_pipeline(lambda p: p.set_paste(enabled)))

    def set_mirror(self, enabled: bool) -> None:
        self._commands.put(lambda: self._set_mirror(enabled))

    def set_output(self, output: OutputFormat) -> None:
        self._commands.put(lambda: self._set_output(output))

    def set_virtual_camera(self, on: bool) -> None:
        self._commands.put(lambda: self._open_virtual_camera() if on else self._close_virtual_camera())

    def start_recording(self, path: str | Path) -> None:
        self._commands.put(lambda: self._start_recording(Path(path)))

    def stop_recording(self) -> None:
        self._commands.put(self._stop_recording)

    # The processing thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._init_pipeline()
            while not self._halt.is_set():
                captured = self._frames.take(0.05) if self._capture is not None else None
                if self._capture is None:
                    self._halt.wait(0.02)
                self._drain_commands()
                if captured is None:
                    self._check_source_end()
                    continue
                if not self._due(captured.captured_at):
                    continue  # faster than the output rate: no one would see this frame
                try:
                    self._process(captured)
                except Exception as exc:  # one bad frame must not end the session: say it once, go on
                    if str(exc) != self._last_error:
                        log.exception("processing a frame failed")
                        self.message.emit("error", f"A frame could not be processed: {exc}")
                    self._last_error = str(exc)
        except Exception as exc:  # last resort: say what happened instead of leaving a frozen preview
            log.exception("the pipeline thread failed")
            self.message.emit("error", f"Processing stopped: {exc}")
        finally:
            self._shutdown()
            self.stopped.emit()

    def _init_pipeline(self) -> None:
        reason = ""
        try:
            self.backend = choose_backend(self.options.backend, self.options.weights)
        except Exception as exc:  # a model that cannot load must not stop the app: the warp still animates
            log.warning("model backend unavailable: %s", exc)
            self.message.emit("error", f"The model cannot run ({exc}); animating with the analytic warp instead.")
            self.backend, reason = None, str(exc)
        self.pipeline = Pipeline(PipelineConfig(), self.backend)
        if self.backend is None:
            self.mode_description = "analytic warp (no model)"
            reason = reason or f"no model weights at {self.options.weights}"
        else:
            self.mode_description = f"model · {self.backend.name}"
            reason = getattr(self.backend, "reason", "")
        self.backend_ready.emit(self.mode_description, reason)

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            except ReenactError as exc:
                self.message.emit("error", str(exc))
            except Exception as exc:  # e.g. a driver or model error: report it, keep the session going
                log.exception("a command failed")
                self.message.emit("error", f"{type(exc).__name__}: {exc}")

    def _due(self, t: float) -> bool:
        """Whether a frame captured at `t` is needed to keep the chosen output rate (never more than that).

        A quarter-period of slack absorbs camera jitter; after a slow stretch the schedule restarts from now, so it
        is never followed by a burst.
        """
        period = 1.0 / max(self._output.fps, 1)
        if self._next_due is not None and t < self._next_due - 0.25 * period:
            self.rate_skipped += 1
            return False
        self._next_due = max((self._next_due if self._next_due is not None else t) + period, t + 0.5 * period)
        return True

    def _with_pipeline(self, action: Callable[[Pipeline], None]) -> None:
        if self.pipeline is not None:
            action(self.pipeline)

    def _process(self, captured: Captured) -> None:
        pipe = self.pipeline
        assert pipe is not None
        image = captured.frame.image
        if self._mirror:
            image = np.ascontiguousarray(image[:, ::-1])
        timings = {"capture": captured.capture_ms}
        landmarks = None
        clamped = False
        animated = pipe.avatar is not None
        if animated:
            step = pipe.step(image, captured.captured_at)
            landmarks = None if step.driving_landmarks is None else step.driving_landmarks[:, :2].copy()
            clamped = step.clamped
            timings["landmarks"] = step.timings_ms["landmarks"]
            timings["model"] = sum(step.timings_ms[k] for k in ("motion", "warp", "model"))
            timings["paste"] = step.timings_ms["paste"]
            t0 = time.perf_counter()
            self._write_outputs(step.image, captured)
            timings["output"] = (time.perf_counter() - t0) * 1000.0
        done = time.perf_counter()
        if self._last_done is not None:
            dt = done - self._last_done
            self._interval_ema = dt if self._interval_ema is None else 0.9 * self._interval_ema + 0.1 * dt
        self._last_done = done
        self.frames_processed += 1
        fps = 1.0 / self._interval_ema if self._interval_ema else 0.0
        self.results.put(WorkerResult(captured.frame.index, image, landmarks, animated, timings, fps,
                                      (done - captured.captured_at) * 1000.0, self._frames.dropped, clamped))
        self.result_ready.emit()

    def _write_outputs(self, animated: NDArray[np.uint8], captured: Captured) -> None:
        out = Frame(fit_to_frame(animated, self._output.width, self._output.height), captured.frame.index,
                    captured.frame.timestamp_ms)
        self.preview.write(out)
        if self._vcam is not None:
            try:
                self._vcam.write(out)
            except Exception as exc:
                self._close_virtual_camera()
                self.message.emit("error", f"The virtual camera stopped: {exc}")
        if self._recorder is not None:
            try:
                self._recorder.write(out)
            except (ReenactError, OSError, ValueError) as exc:
                self._recorder = None
                self.recording_changed.emit(False, "")
                self.message.emit("error", f"Recording stopped: {exc}")

    # Commands (run on the processing thread) --------------------------------------------------------------------
    def _open_source(self, spec: SourceSpec) -> None:
        self._close_source()
        try:
            source = open_source(spec)
        except ReenactError as exc:
            self.source_ended.emit(str(exc))
            raise
        self._use_source(source, spec)

    def _use_source(self, source: FrameSource, spec: SourceSpec) -> None:
        self._close_source()
        self._source, self._source_spec = source, spec
        self._end_reported = False
        if self.pipeline is not None:
            self.pipeline.reset_stream()
        self._capture = CaptureThread(source, self._frames, paced=spec.kind == "file")
        self._capture.start()
        self.source_ready.emit(spec.describe())

    def _close_source(self) -> None:
        if self._capture is not None:
            self._capture.stop()
            self._capture.join(2.0)  # a camera read returns within a frame; never hang the app on a driver
            self._capture = None
        if self._source is not None:
            self._source.close()
            self._source = None
        self._frames.take(0)

    def _check_source_end(self) -> None:
        capture = self._capture
        if capture is None or not capture.ended.is_set() or self._end_reported or self._frames.pending:
            return  # the last frame is still waiting to be processed
        self._end_reported = True
        spec = self._source_spec
        what = spec.describe() if spec else "the source"
        if capture.error:
            why = f"Reading {what} failed ({capture.error}). Pick a driving source to continue."
        elif spec is not None and spec.kind == "camera":
            why = f"{what.capitalize()} stopped sending frames (unplugged, or taken by another program). " \
                  "Pick a driving source to continue."
        else:
            why = f"{what} has no more readable frames. Pick a driving source to continue."
        self._close_source()
        self.source_ended.emit(why)
        self.message.emit("warning", why)

    def _prepare_avatar(self, path: Path) -> None:
        assert self.pipeline is not None
        image = load_image(path)
        avatar = self.pipeline.prepare(image, path)
        self.preview.write(Frame(fit_to_frame(avatar.image, self._output.width, self._output.height), -1, 0))
        self.avatar_ready.emit(str(path))
        self.result_ready.emit()

    def _calibrate(self) -> None:
        ok = self.pipeline is not None and self.pipeline.calibrate()
        self.calibrated.emit(ok)
        if ok:
            self.message.emit("info", "Calibrated: the current face is the neutral pose now.")
        else:
            self.message.emit("warning", "No face seen yet: look into the camera, then calibrate again.")

    def _set_mirror(self, enabled: bool) -> None:
        if enabled != self._mirror:
            self._mirror = enabled
            if self.pipeline is not None:  # the old reference pose is the other way round now
                self.pipeline.reset_stream()

    def _set_output(self, output: OutputFormat) -> None:
        if output == self._output:
            return
        self._output = output
        if self._recorder is not None:
            self._stop_recording()
            self.message.emit("info", "Recording stopped because the output size changed.")
        if self._vcam is not None:
            self._close_virtual_camera()
            self._open_virtual_camera()

    def _open_virtual_camera(self) -> None:
        if self._vcam is not None:
            return
        o = self._output
        try:
            self._vcam = VirtualCameraSink(o.width, o.height, o.fps, backend=self.options.virtual_camera_backend)
        except ReenactError:
            self.virtual_camera_changed.emit(False, "")
            raise
        self.virtual_camera_changed.emit(True, self._vcam.device)
        self.message.emit("info", f"Virtual camera on: {self._vcam.device} ({o.width}×{o.height}, {o.fps} fps).")

    def _close_virtual_camera(self) -> None:
        if self._vcam is not None:
            vcam, self._vcam = self._vcam, None
            try:
                vcam.close()
            finally:
                self.virtual_camera_changed.emit(False, "")

    def _start_recording(self, path: Path) -> None:
        if self._recorder is not None:
            self._stop_recording()
        path = check_output_path(path, overwrite=True)  # the save dialog already asked before replacing
        self._recorder = PacedSink(VideoFileSink(path, self._output.fps, overwrite=True), self._output.fps)
        self._record_path = path
        self.recording_changed.emit(True, str(path))

    def _stop_recording(self) -> None:
        recorder, path = self._recorder, self._record_path
        self._recorder = self._record_path = None
        if recorder is None:
            return
        self.recording_changed.emit(False, str(path))
        recorder.close()
        if recorder.frames_written:
            self.message.emit("info", f"Recording saved: {path}")

    def _shutdown(self) -> None:
        for step in (self._stop_recording, self._close_virtual_camera, self._close_source):
            try:
                step()
            except Exception as exc:
                log.warning("while stopping: %s", exc)
        if self.pipeline is not None:
            self.pipeline.close()
        if self.backend is not None:
            self.backend.close()
        self.preview.close()

