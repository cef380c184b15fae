"""The app's session off the UI thread: which source, avatar and outputs, turned into Qt signals.

The frames themselves go through the pipelined runner (app.runner: tracking, network and paste-back on threads of
their own), fed by the capture thread through a newest-only slot (app.capture: stale frames dropped at the input)
and handed to the output router (app.outputs: preview, virtual camera, recording). The worker keeps the rest: the
output rate, the user's settings as commands applied between frames, the figures for the status bar, and messages.
The UI reads results from a newest-only slot after a signal, so a slow repaint never backs the pipeline up either.
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

from reenact.app.capture import Captured, CaptureThread, SourceSpec, open_source
from reenact.app.framer import AvatarFramer
from reenact.app.frames import Frame
from reenact.app.framing import Framing, fill_around
from reenact.app.latest import LatestSlot
from reenact.app.outputs import OutputEvents, OutputFormat, OutputRouter
from reenact.app.rates import FrameStats, OutputRate
from reenact.app.runner import FrameJob, PipelinedRunner
from reenact.app.sinks import PreviewSink
from reenact.app.sources import FrameSource
from reenact.engine.assets import DEFAULT_WEIGHTS, load_image
from reenact.engine.backends.base import Backend
from reenact.engine.config import OneEuroConfig, PipelineConfig
from reenact.engine.driver import Driving, look
from reenact.engine.errors import ReenactError
from reenact.engine.face import Landmarks
from reenact.engine.mode import choose_mode
from reenact.engine.motion import closest_expression
from reenact.engine.pipeline import DrivingFace, Pipeline

log = logging.getLogger(__name__)
NEUTRAL_SEARCH_S = 4.0  # F looks this far back for the driving face closest to the avatar's expression

__all__ = ["OutputFormat", "PipelineWorker", "SourceSpec", "WorkerOptions", "WorkerResult", "choose_backend",
           "smoothing_config"]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    backend: str = "auto"
    weights: Path = DEFAULT_WEIGHTS
    virtual_camera_backend: str | None = None  # None: pyvirtualcam picks the OS's camera
    precision: str = "auto"  # what the network computes in where the backend can (formats.precision_for)


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """One processed driving frame, for the UI."""

    index: int
    driving: NDArray[np.uint8]  # the driving frame as processed (mirrored when mirror is on)
    landmarks: NDArray[np.float32] | None  # driving landmarks in its pixels, None when no face
    animated: bool  # False while no avatar is ready
    timings_ms: dict[str, float] = field(default_factory=dict)  # engine.pipeline.FRAME_STAGES
    fps: float = 0.0
    latency_ms: float = 0.0  # from the frame's capture to its hand-over to the outputs
    dropped: int = 0  # driving frames skipped so far because a newer one was waiting
    clamped: bool = False  # the head turned or moved further than the warp follows: its motion was limited
    passthrough: bool = False  # the outputs show the camera itself, not the avatar
    latency_p95_ms: float = 0.0  # over the last few seconds (app.rates.LATENCY_WINDOW frames)


def smoothing_config(strength: int) -> OneEuroConfig:
    """0 = off; 50 = the default filter; 100 = heavy smoothing (more lag). Geometric in the cut-off frequency."""
    strength = max(0, min(100, int(strength)))
    if strength == 0:
        return replace(OneEuroConfig(), enabled=False)
    return replace(OneEuroConfig(), min_cutoff=float(10.0 ** (1.0 - 2.0 * strength / 100.0)))


def choose_backend(kind: str, weights: Path, precision: str = "auto") -> tuple[Backend | None, str]:
    """The model backend, or None (the analytic warp), and why: the one model-or-warp policy (engine.mode; `auto`
    runs the network where its weights are, `warp` the warp, a named backend the network), the artifact made by
    export, loaded by engine."""
    choice = choose_mode("auto", weights, kind)
    if choice.mode == "warp":
        return None, choice.reason
    from reenact.export.artifacts import open_backend

    backend = open_backend(kind, weights, precision=precision)
    return backend, getattr(backend, "reason", "") or choice.reason


class PipelineWorker(QObject):
    """Owns the source, the pipeline and the outputs; commands from the UI run between frames."""

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
        self.outputs = OutputRouter(virtual_camera_backend=self.options.virtual_camera_backend, events=OutputEvents(
            message=self.message.emit, virtual_camera_changed=self.virtual_camera_changed.emit,
            virtual_camera_failed=self.virtual_camera_failed.emit, recording_changed=self.recording_changed.emit))
        self.pipeline: Pipeline | None = None
        self.backend: Backend | None = None
        self.runner: PipelinedRunner | None = None
        self.mode_description = ""
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._frames: LatestSlot[Captured] = LatestSlot()
        self._capture: CaptureThread | None = None
        self._source: FrameSource | None = None
        self._source_spec: SourceSpec | None = None
        self._end_reported = False
        self._mirror = True
        self._framing = Framing()
        self._framer: AvatarFramer | None = None
        self._passthrough = False
        self._recent: deque[tuple[float, Landmarks, Driving]] = deque()  # (capture time, landmarks, face), for F
        self._rate = OutputRate(self.outputs.format.fps)
        self._stats = FrameStats()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    @property
    def preview(self) -> PreviewSink:
        """The output frames, exactly as the virtual camera and the recording get them."""
        return self.outputs.preview

    # Called from the UI thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="reenact-pipeline", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop processing, release the source and close every output (finishing a recording). Idempotent."""
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
    def frames_processed(self) -> int:
        return self._stats.frames

    @property
    def rate_skipped(self) -> int:
        """Frames left out to keep to the output rate."""
        return self._rate.skipped

    @property
    def source(self) -> FrameSource | None:
        return self._source

    def set_source(self, spec: SourceSpec) -> None:
        self._command(lambda: self._open_source(spec))

    def use_source(self, source: FrameSource, spec: SourceSpec) -> None:
        """Drive from a source opened elsewhere (`spec` says how to describe and pace it); the worker closes it."""
        self._command(lambda: self._use_source(source, spec))

    def set_avatar(self, path: str | Path) -> None:
        self._command(lambda: self._prepare_avatar(Path(path)))

    def calibrate(self) -> None:
        self._command(self._calibrate)

    def neutral_from_recent(self) -> None:
        """avatarify's F: the driving face of the last few seconds closest to the avatar's expression becomes the
        neutral pose."""
        self._command(self._neutral_from_recent)

    def recent_faces(self) -> list[Landmarks]:
        """The driving landmarks F would search now (oldest first); a copy."""
        return [lm.copy() for _, lm, _ in list(self._recent)]

    def set_framing(self, framing: Framing) -> None:
        self._command(lambda: self._set_framing(framing))

    def set_passthrough(self, on: bool) -> None:
        """Send the camera itself to the outputs (True) or the animated avatar (False)."""
        self._command(lambda: self._set_passthrough(on))

    def set_motion(self, mode: str) -> None:
        self._command(lambda: self._with_pipeline(lambda p: p.set_motion(replace(p.config.motion, mode=mode))))

    def set_smoothing(self, strength: int) -> None:
        self._command(lambda: self._with_pipeline(lambda p: p.set_smoothing(smoothing_config(strength))))

    def set_paste(self, enabled: bool) -> None:
        self._command(lambda: self._with_pipeline(lambda p: p.set_paste(enabled)))

    def set_mirror(self, enabled: bool) -> None:
        self._command(lambda: self._set_mirror(enabled))

    def set_output(self, output: OutputFormat) -> None:
        self._command(lambda: self._set_output(output))

    def set_virtual_camera(self, on: bool) -> None:
        self._command(self.outputs.open_virtual_camera if on else self.outputs.close_virtual_camera)

    def start_recording(self, path: str | Path) -> None:
        self._command(lambda: self.outputs.start_recording(Path(path)))

    def stop_recording(self) -> None:
        self._command(self.outputs.stop_recording)

    def _command(self, action: Callable[[], None]) -> None:
        """Queue `action` for the pipeline thread, which runs it between frames and reports its errors."""

        def run() -> None:
            try:
                action()
            except ReenactError as exc:
                self.message.emit("error", str(exc))
            except Exception as exc:  # e.g. a driver or model error: report it, keep the session going
                log.exception("a command failed")
                self.message.emit("error", f"{type(exc).__name__}: {exc}")

        self._commands.put(run)

    # The pipeline thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._init_pipeline()
            assert self.pipeline is not None
            self.runner = PipelinedRunner(self.pipeline, self._frames, self._deliver, admit=self._admit,
                                          commands=self._commands, on_error=self._frame_failed,
                                          on_idle=self._check_source_end)
            self.runner.run(self._halt)
        except Exception as exc:  # last resort: say what happened instead of leaving a frozen preview
            log.exception("the pipeline thread failed")
            self.message.emit("error", f"Processing stopped: {exc}")
        finally:
            self._shutdown()
            self.stopped.emit()

    def _init_pipeline(self) -> None:
        try:
            self.backend, reason = choose_backend(self.options.backend, self.options.weights,
                                                  self.options.precision)
        except Exception as exc:  # a model that cannot load must not stop the app: the warp still animates
            log.warning("model backend unavailable: %s", exc)
            self.message.emit("error", f"The model cannot run ({exc}); animating with the analytic warp instead.")
            self.backend, reason = None, str(exc)
        self.pipeline = Pipeline(PipelineConfig(), self.backend)
        if self.backend is None:
            self.mode_description = "analytic warp"  # why (no weights, no GPU, a failed backend): the reason
        else:
            self.mode_description = f"model · {self.backend.name} · {self.backend.meta.precision}"
        self.backend_ready.emit(self.mode_description, reason)

    def _admit(self, captured: Captured) -> FrameJob | None:
        """Tracking thread: a frame the output rate needs, mirrored as the user sees themself; None to skip it."""
        if not self._rate.due(captured.captured_at):
            return None  # faster than the output rate: no one would see this frame
        image = captured.frame.image
        if self._mirror:
            image = np.ascontiguousarray(image[:, ::-1])
        animate = self.pipeline is not None and self.pipeline.avatar is not None and not self._passthrough
        return FrameJob(captured, image, animate=animate)

    def _deliver(self, job: FrameJob) -> None:
        """Output thread: the finished frame to the outputs, then its figures to the UI."""
        t0 = time.perf_counter()
        captured, step, tracked = job.captured, job.result, job.tracked
        landmarks = None
        if self._passthrough and not job.animate:  # the camera as it is: a mirror is for the user, not the call
            camera = captured.frame.image
            size = (self.outputs.format.width, self.outputs.format.height)
            self.outputs.send(Frame(fill_around(camera, size, (camera.shape[1] / 2, camera.shape[0] / 2)),
                                    captured.frame.index, captured.frame.timestamp_ms))
        elif step is not None and tracked is not None and self._framer is not None and self.pipeline is not None:
            if tracked.landmarks is not None:
                landmarks = tracked.landmarks[:, :2].copy()
                if tracked.driving is not None:  # this frame's face (the tracker found one)
                    self._remember_face(captured.captured_at, tracked.driving)
            image = self._framer.frame(step.image, tracked.target, captured.captured_at,
                                       full=self.pipeline.config.paste.enabled)
            self.outputs.send(Frame(image, captured.frame.index, captured.frame.timestamp_ms))
        done = time.perf_counter()
        job.timings_ms["output"] = (done - t0) * 1000.0
        latency = self._stats.delivered(captured.captured_at, done)
        self.results.put(WorkerResult(
            captured.frame.index, job.image, landmarks, step is not None, dict(job.timings_ms), self._stats.fps,
            latency, self._frames.dropped, bool(step is not None and step.clamped), self._passthrough,
            self._stats.latency_p95_ms))
        self.result_ready.emit()

    def _frame_failed(self, exc: BaseException) -> None:
        """One bad frame must not end the session: say it once, go on."""
        if str(exc) != self._last_error:
            log.error("processing a frame failed", exc_info=exc)
            self.message.emit("error", f"A frame could not be processed: {exc}")
        self._last_error = str(exc)

    def _remember_face(self, t: float, face: DrivingFace) -> None:
        """Its landmarks and the face cut from its frame: F makes both the reference (engine.shading needs the
        look of it)."""
        self._recent.append((t, face.landmarks.copy(), look(face.image, face.landmarks)))
        while self._recent and self._recent[0][0] < t - NEUTRAL_SEARCH_S:
            self._recent.popleft()

    def _with_pipeline(self, action: Callable[[Pipeline], None]) -> None:
        if self.pipeline is not None:
            action(self.pipeline)

    # Commands (run on the pipeline thread with no frame in flight) ----------------------------------------------
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
            return
        if self.runner is not None and self.runner.in_flight:
            return  # the last frames are still on their way to the outputs
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
            o = self.outputs.format
            self._framer = AvatarFramer(pipe.avatar, (o.width, o.height), self._framing)

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
        best = closest_expression([lm for _, lm, _ in recent], pipe.avatar.crop.landmarks)
        pipe.set_reference(recent[best][1], recent[best][2])
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
        if self.outputs.set_format(output):
            self._rate.fps = output.fps
            self._new_framer()

    def _shutdown(self) -> None:
        for step in (self.outputs.close, self._close_source):
            try:
                step()
            except Exception as exc:
                log.warning("while stopping: %s", exc)
        if self.pipeline is not None:
            self.pipeline.close()
        if self.backend is not None:
            self.backend.close()
