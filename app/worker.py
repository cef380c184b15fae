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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QObject, pyqtSignal

from reenact.app.framer import AvatarFramer
from reenact.app.frames import Frame
from reenact.app.framing import DEFAULT_SIZE, Framing, fill_around
from reenact.app.latest import LatestSlot
from reenact.app.sinks import PacedSink, PreviewSink, VideoFileSink, VirtualCameraSink
from reenact.app.sources import (
    CameraSource,
    FrameSource,
    Interruptible,
    Notify,
    StreamSource,
    VideoFileSource,
)
from reenact.engine.assets import DEFAULT_WEIGHTS, load_image
from reenact.engine.atomic import check_output_path
from reenact.engine.backends.base import Backend
from reenact.engine.config import OneEuroConfig, PipelineConfig
from reenact.engine.errors import ReenactError
from reenact.engine.face import Landmarks
from reenact.engine.motion import closest_expression
from reenact.engine.pipeline import Pipeline

log = logging.getLogger(__name__)
STAGES = ("capture", "landmarks", "model", "paste", "output")
NEUTRAL_SEARCH_S = 4.0  # F looks this far back for the driving face closest to the avatar's expression


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
        try:
            self._read_until_halted()
        finally:
            if self._halt.is_set():  # stopped: the reader releases the source, never another thread mid-read
                try:
                    self.source.close()
                except Exception as exc:
                    log.warning("closing the driving source: %s", exc)

    def _read_until_halted(self) -> None:
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
        if isinstance(self.source, Interruptible):  # a stream waiting to reconnect gives up now
            self.source.interrupt()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Which driving source to open: a camera by index, a video file (looped) or a network stream by URL."""

    kind: str  # "camera" | "file" | "stream"
    camera: int = 0
    path: Path | None = None
    url: str = ""

    def describe(self) -> str:
        if self.kind == "camera":
            return f"camera {self.camera}"
        if self.kind == "stream":
            return f"stream {self.url}"
        return self.path.name if self.path else "no file"


def open_source(spec: SourceSpec, notify: Notify | None = None) -> FrameSource:
    """The source `spec` names; `notify` hears a stream's drops and reconnections."""
    if spec.kind == "camera":
        return CameraSource(spec.camera)
    if spec.kind == "stream":
        return StreamSource(spec.url, notify)
    if spec.path is None:
        raise ReenactError("no driving video chosen")
    return VideoFileSource(spec.path, loop=True)


@dataclass(frozen=True, slots=True)
class OutputFormat:
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
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
    passthrough: bool = False  # the outputs show the camera itself, not the avatar


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
    virtual_camera_failed = pyqtSignal(str)  # why it could not start (the window then shows the set-up report)
    passthrough_changed = pyqtSignal(bool)
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
        self._framing = Framing()
        self._framer: AvatarFramer | None = None
        self._passthrough = False
        self._recent: deque[tuple[float, Landmarks]] = deque()  # (capture time, driving landmarks), for F
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

    def neutral_from_recent(self) -> None:
        """avatarify's F: the driving face of the last few seconds closest to the avatar's expression becomes the
        neutral pose."""
        self._commands.put(self._neutral_from_recent)

    def recent_faces(self) -> list[Landmarks]:
        """The driving landmarks F would search now (oldest first); a copy."""
        return [lm.copy() for _, lm in list(self._recent)]

    def set_framing(self, framing: Framing) -> None:
        self._commands.put(lambda: self._set_framing(framing))

    def set_passthrough(self, on: bool) -> None:
        """Send the camera itself to the outputs (True) or the animated avatar (False)."""
        self._commands.put(lambda: self._set_passthrough(on))

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
        animated = pipe.avatar is not None and not self._passthrough
        if self._passthrough:  # the camera as it is: a mirror is for the user's own preview, not for the call
            t0 = time.perf_counter()
            camera = captured.frame.image
            size = (self._output.width, self._output.height)
            self._send(Frame(fill_around(camera, size, (camera.shape[1] / 2, camera.shape[0] / 2)),
                             captured.frame.index, captured.frame.timestamp_ms))
            timings["output"] = (time.perf_counter() - t0) * 1000.0
        elif animated:
            step = pipe.step(image, captured.captured_at)
            landmarks = None if step.driving_landmarks is None else step.driving_landmarks[:, :2].copy()
            if step.driving_landmarks is not None:
                self._remember_face(captured.captured_at, step.driving_landmarks)
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
                                      (done - captured.captured_at) * 1000.0, self._frames.dropped, clamped,
                                      self._passthrough))
        self.result_ready.emit()

    def _remember_face(self, t: float, landmarks: Landmarks) -> None:
        self._recent.append((t, landmarks.copy()))
        while self._recent and self._recent[0][0] < t - NEUTRAL_SEARCH_S:
            self._recent.popleft()

    def _write_outputs(self, animated: NDArray[np.uint8], captured: Captured) -> None:
        pipe = self.pipeline
        assert pipe is not None and self._framer is not None
        image = self._framer.frame(animated, pipe.target, captured.captured_at, full=pipe.config.paste.enabled)
        self._send(Frame(image, captured.frame.index, captured.frame.timestamp_ms))

    def _send(self, out: Frame) -> None:
        """One output frame to the preview, the virtual camera and the recording."""
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
            source = open_source(spec, self.message.emit)
        except ReenactError as exc:
            self.source_ended.emit(str(exc))
            raise
        self._use_source(source, spec)

    def _use_source(self, source: FrameSource, spec: SourceSpec) -> None:
        self._close_source()
        self._source, self._source_spec = source, spec
        self._end_reported = False
        self._reset_stream()
        self._capture = CaptureThread(source, self._frames, paced=spec.kind == "file")
        self._capture.start()
        self.source_ready.emit(spec.describe())

    def _reset_stream(self) -> None:
        """A new driving stream (or a mirrored one): tracking, reference and F's recent faces start afresh."""
        if self.pipeline is not None:
            self.pipeline.reset_stream()
        self._recent.clear()

    def _close_source(self) -> None:
        reader_done = True
        if self._capture is not None:
            self._capture.stop()  # the reader closes the source itself when it stops
            self._capture.join(2.0)  # a camera read returns within a frame; never hang the app on a driver
            reader_done = not self._capture.is_alive()
            if not reader_done:
                log.warning("the driving source is slow to stop; it is released when its read returns")
            self._capture = None
        if self._source is not None:
            if reader_done:
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
        elif spec is not None and spec.kind in ("camera", "stream"):
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
        self.pipeline.prepare(image, path)
        self._new_framer()
        if not self._passthrough:
            self._show_still_avatar()
        self.avatar_ready.emit(str(path))
        self.result_ready.emit()

    def _new_framer(self) -> None:
        """The avatar's framing: its face box is found once here, so the output frame never shakes."""
        pipe = self.pipeline
        if pipe is not None and pipe.avatar is not None:
            self._framer = AvatarFramer(pipe.avatar, (self._output.width, self._output.height), self._framing)

    def _show_still_avatar(self) -> None:
        """The avatar at rest in the preview until driving frames animate it."""
        pipe = self.pipeline
        if pipe is None or pipe.avatar is None or self._framer is None:
            return
        image = self._framer.still(full=pipe.config.paste.enabled)
        self.preview.write(Frame(image, -1, 0))
        self.result_ready.emit()

    def _calibrate(self) -> None:
        ok = self.pipeline is not None and self.pipeline.calibrate()
        self.calibrated.emit(ok)
        if ok:
            self.message.emit("info", "Calibrated: the current face is the neutral pose now.")
        else:
            self.message.emit("warning", "No face seen yet: look into the camera, then calibrate again.")

    def _neutral_from_recent(self) -> None:
        pipe = self.pipeline
        recent = list(self._recent)
        if pipe is None or pipe.avatar is None or not recent:
            self.calibrated.emit(False)
            self.message.emit("warning", f"No face seen in the last {NEUTRAL_SEARCH_S:.0f} s: look into the camera, "
                                         "then press F again.")
            return
        best = closest_expression([lm for _, lm in recent], pipe.avatar.crop.landmarks)
        pipe.set_reference(recent[best][1])
        ago = recent[-1][0] - recent[best][0]
        self.calibrated.emit(True)
        self.message.emit("info", f"Neutral pose: your face from {ago:.1f} s ago, the closest of the last "
                                  f"{len(recent)} to the avatar's expression.")

    def _set_mirror(self, enabled: bool) -> None:
        if enabled != self._mirror:
            self._mirror = enabled
            self._reset_stream()  # the old reference pose is the other way round now

    def _set_framing(self, framing: Framing) -> None:
        if framing != self._framing:
            self._framing = framing
            self._new_framer()
            if self._capture is None and not self._passthrough:
                self._show_still_avatar()

    def _set_passthrough(self, on: bool) -> None:
        if on != self._passthrough:
            self._passthrough = on
            self.passthrough_changed.emit(on)
            self.message.emit("info", "Passthrough: the call sees your camera now (0 for the avatar again)." if on
                              else "The call sees the avatar again.")

    def _set_output(self, output: OutputFormat) -> None:
        if output == self._output:
            return
        self._output = output
        self._new_framer()
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
        except ReenactError as exc:
            self.virtual_camera_changed.emit(False, "")
            self.virtual_camera_failed.emit(str(exc))
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

