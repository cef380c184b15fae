"""A bench run: the app's threaded path (app.runner → app.outputs) timed on in-memory frames, then the frame
network alone against the FOMM-sized one, per backend, optionally beside busy processes (`--load`).

Frames come from memory, so decoding is not timed: by default each frame is handed out the moment the pipeline can
take one (throughput), or at a camera's rate with `--input-fps` (latency as the app sees it, stale frames dropped
at the input). Every frame then goes through the same runner, framer and output router as in `reenact app`: the
virtual camera is the real `VirtualCameraSink` on a registered null pyvirtualcam backend, a recording the real
paced mp4 writer. Warm-up frames are not counted; CPU time is this process's, busy processes not included.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import psutil
from numpy.typing import NDArray

from reenact.app.bench.fomm_sized import DESCRIPTION, RUNTIMES, fomm_sized_runner
from reenact.app.bench.load import BusyLoad
from reenact.app.bench.report import BackendResult, BenchReport, Stat, speedup
from reenact.app.bench.setup import (
    OUTPUTS,
    WARP,
    BenchOptions,
    backend_kinds,
    checkpoint_for,
    load_average,
    load_frames,
    machine_info,
    private_cache,
)
from reenact.app.capture import Captured, CaptureThread
from reenact.app.frames import Frame
from reenact.engine.errors import ReenactError
from reenact.engine.pipeline import FRAME_STAGES

if TYPE_CHECKING:
    from reenact.app.runner import FrameJob
    from reenact.engine.backends.base import Backend
    from reenact.engine.pipeline import Pipeline

FULL_RES_FACE_PX = 1024
RSS_EVERY_S = 30.0


class MemorySource:
    """The same frames as a FrameSource, looped, for a capture thread that paces them like a camera."""

    def __init__(self, frames: list[NDArray[np.uint8]], fps: float) -> None:
        self.frames, self.fps = frames, fps
        self._i = 0

    def read(self) -> Frame | None:
        i, self._i = self._i, self._i + 1
        return Frame(self.frames[i % len(self.frames)], i, round(i * 1000.0 / self.fps))

    def close(self) -> None:
        pass


class MemoryFrames:
    """In-memory frames handed out whenever the pipeline asks (a FrameInput): the throughput a camera never limits."""

    def __init__(self, frames: list[NDArray[np.uint8]], fps: float) -> None:
        self.dropped = 0
        self._source = MemorySource(frames, fps)

    def take(self, timeout: float | None = None) -> Captured:
        frame = self._source.read()
        assert frame is not None  # looped: never ends
        return Captured(frame, time.perf_counter(), 0.0)


def _cpu_s() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@dataclass(slots=True)
class Run:
    """Samples from one timed pipeline run."""

    stages: dict[str, list[float]]
    latency: list[float]  # end to end per frame, ms
    wall_s: float
    cpu_s: float
    frames_without_face: int
    dropped: int
    output_frames: int
    rss: dict[str, float]
    feeds: dict[str, NDArray[np.float32]]  # the frame graph's inputs for the last driving pose
    avatar_crop: NDArray[np.float32] | None  # what the features were encoded from (the FOMM-sized net encodes it
    # per frame); None without a network
    in_flight: list[dict[str, float]]  # the flight control's windows (app.flight), warm-up included


@dataclass(slots=True)
class _Collector:
    """The bench's `deliver`: the app's framing and outputs, then the frame's figures; ends the run when done."""

    pipe: Pipeline
    send: Callable[[FrameJob], None]
    opts: BenchOptions
    halt: threading.Event
    say: Callable[[str], None]
    dropped: Callable[[], int]
    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in FRAME_STAGES})
    latency: list[float] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)
    count: int = 0
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)
    next_rss: float = 0.0

    def mark(self) -> dict[str, float]:
        return {"t": time.perf_counter(), "cpu": _cpu_s(), "rss": _rss_mb(),
                "no_face": self.pipe.frames_without_face, "dropped": self.dropped()}

    def deliver(self, job: FrameJob) -> None:
        if self.end:
            return
        t0 = time.perf_counter()
        self.send(job)
        now = time.perf_counter()
        job.timings_ms["output"] = (now - t0) * 1000.0
        self.count += 1
        if not self.start:
            if self.count >= self.opts.warmup:
                self.start = self.mark()
                self.rss["start_mb"] = self.rss["peak_mb"] = self.start["rss"]
                self.next_rss = self.start["t"] + RSS_EVERY_S
            return
        for k, v in job.timings_ms.items():
            self.stages.setdefault(k, []).append(v)
        self.latency.append(job.latency_ms())
        elapsed = now - self.start["t"]
        if now >= self.next_rss:
            self.next_rss += RSS_EVERY_S
            rss = _rss_mb()
            self.rss["peak_mb"] = max(self.rss["peak_mb"], rss)
            self.say(f"  soak {elapsed:4.0f} s: {len(self.latency)} frames, RSS {rss:.0f} MB")
        done = elapsed >= self.opts.soak_s if self.opts.soak_s > 0 else len(self.latency) >= self.opts.frames
        if done:
            self.end = self.mark()
            self.halt.set()


def run_pipeline(backend: Backend | None, opts: BenchOptions, frames: list[NDArray[np.uint8]], fps: float,
                 avatar: NDArray[np.uint8], workdir: Path, say: Callable[[str], None]) -> Run:
    """Warm up, then time `opts.frames` frames (or `opts.soak_s` seconds) through the app's threaded path."""
    from reenact.app.bench import null_camera
    from reenact.app.framer import AvatarFramer
    from reenact.app.framing import Framing
    from reenact.app.latest import LatestSlot
    from reenact.app.outputs import OutputRouter
    from reenact.app.runner import PipelinedRunner
    from reenact.engine.config import PipelineConfig
    from reenact.engine.pipeline import Pipeline

    pipe = Pipeline(PipelineConfig(), backend)
    pipe.prepare(avatar, opts.avatar)
    router = OutputRouter(virtual_camera_backend=null_camera.register() if opts.output == "vcam" else None)
    fmt = router.format
    framer = AvatarFramer(pipe.avatar, (fmt.width, fmt.height), Framing())  # type: ignore[arg-type]
    capture: CaptureThread | None = None
    output_frames = 0
    try:
        if opts.output == "vcam":
            router.open_virtual_camera()
        elif opts.output == "mp4":
            record = opts.record or workdir / "bench.mp4"
            router.start_recording(record, overwrite=opts.record is None or opts.overwrite)

        def send(job: FrameJob) -> None:
            if job.result is None or job.tracked is None:
                return
            image = framer.frame(job.result.image, job.tracked.target, job.captured.captured_at,
                                 full=pipe.config.paste.enabled)
            router.send(Frame(image, job.captured.frame.index, job.captured.frame.timestamp_ms))

        halt = threading.Event()
        source: MemoryFrames | LatestSlot[Captured]
        if opts.input_fps > 0:
            source = LatestSlot()
            capture = CaptureThread(MemorySource(frames, opts.input_fps), source, paced=True)
        else:
            source = MemoryFrames(frames, fps)
        collector = _Collector(pipe, send, opts, halt, say, lambda: source.dropped)
        if opts.warmup == 0:
            collector.start = collector.mark()
            collector.rss["start_mb"] = collector.rss["peak_mb"] = collector.start["rss"]
        errors: list[BaseException] = []
        runner = PipelinedRunner(pipe, source, collector.deliver, on_error=errors.append)
        if capture is not None:
            capture.start()
        watchdog = threading.Timer(_time_limit(opts), halt.set)  # a run that stops delivering ends
        watchdog.start()
        try:
            runner.run(halt)
        finally:
            watchdog.cancel()
        if errors:
            raise errors[0]
        if not collector.end:
            raise ReenactError("the pipeline stopped delivering frames before the timed run was complete")
        output_frames = router.vcam.frames_written if router.vcam is not None else router.frames_recorded
        feeds = frame_feeds(pipe) if backend is not None else {}
        avatar_crop = pipe.avatar.source_tensor  # type: ignore[union-attr]
    finally:
        if capture is not None:
            capture.stop()
            capture.join(2.0)
        stopped = router.stop_recording() if opts.output == "mp4" else 0
        output_frames = stopped or output_frames
        router.close()
        pipe.close()
    start, end = collector.start, collector.end
    rss = {**collector.rss, "end_mb": end["rss"]}
    rss["peak_mb"] = max(rss["peak_mb"], end["rss"])
    rss["growth_mb"] = end["rss"] - start["rss"]
    timed = {k: v for k, v in collector.stages.items() if v and (backend is not None or k != "model")}
    windows = [asdict(w) for w in runner.flight.windows] if runner.flight is not None else []
    return Run(timed, collector.latency, end["t"] - start["t"], end["cpu"] - start["cpu"],
               int(end["no_face"] - start["no_face"]), int(end["dropped"] - start["dropped"]), output_frames,
               {k: round(v, 1) for k, v in rss.items()}, feeds, avatar_crop, windows)


def _time_limit(opts: BenchOptions) -> float:
    """Generous: a second per frame, plus the soak, plus a minute."""
    return 60.0 + opts.soak_s + float(opts.frames + opts.warmup)


def frame_feeds(pipe: Pipeline) -> dict[str, NDArray[np.float32]]:
    """The frame graph's inputs for the pipeline's last pose, as it builds them."""
    assert pipe.avatar is not None
    target = pipe.target
    warp = pipe.avatar.warp
    return pipe.frame_feeds(warp.crop_grid(warp(target)), target)


def time_full_resolution(avatar: NDArray[np.uint8], frames: list[NDArray[np.uint8]], count: int = 24
                         ) -> dict[str, object]:
    """The full-resolution render stage ("paste": sampling the avatar's own pixels, then compositing) for the
    avatar scaled until its face is FULL_RES_FACE_PX tall: what a high-resolution portrait costs per frame."""
    from reenact.engine.face import FaceTracker
    from reenact.engine.pipeline import Pipeline

    with FaceTracker(static=True) as tracker:
        lms = tracker.detect(avatar)
    if lms is None:
        raise ReenactError("no face found in the avatar")
    scale = FULL_RES_FACE_PX / float(np.ptp(lms[:, 1]))
    big = cv2.resize(avatar, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    samples: list[float] = []
    with Pipeline() as pipe:
        pipe.prepare(big, "scaled avatar")
        for i in range(count + 2):
            step = pipe.step(frames[i % len(frames)], i / 30.0)
            if i >= 2:
                samples.append(step.timings_ms["paste"])
        region = pipe.avatar.renderer.region  # type: ignore[union-attr]
    return {"face_px": FULL_RES_FACE_PX, "image": f"{big.shape[1]}x{big.shape[0]}",
            "region": f"{region.x1 - region.x0}x{region.y1 - region.y0}", "paste": asdict(Stat.of(samples))}


def time_model_and_fomm_sized(run_model: Callable[[], object], run_fomm: Callable[[], object] | None,
                              opts: BenchOptions) -> tuple[Stat, Stat | None]:
    """Model steps and FOMM-sized steps interleaved, so both see the same machine when others share it."""
    rounds = opts.fomm_frames if run_fomm is not None else 1
    per_round = -(-opts.model_runs // rounds)
    run_model()
    if run_fomm is not None:
        run_fomm()  # warm-up: first-run allocations and caches
    model: list[float] = []
    fomm: list[float] = []
    for _ in range(rounds):
        for _ in range(per_round):
            t0 = time.perf_counter()
            run_model()
            model.append((time.perf_counter() - t0) * 1000.0)
        if run_fomm is not None:
            t0 = time.perf_counter()
            run_fomm()
            fomm.append((time.perf_counter() - t0) * 1000.0)
    return Stat.of(model), Stat.of(fomm) if fomm else None


def bench_backend(backend: Backend | None, opts: BenchOptions, frames: list[NDArray[np.uint8]], fps: float,
                  avatar: NDArray[np.uint8], workdir: Path, say: Callable[[str], None], reason: str = ""
                  ) -> BackendResult:
    """The pipeline run, the model step alone, and the FOMM-sized network on the same kind of runtime; the
    pipeline run alone for the analytic warp (`backend` None), which runs no network."""
    run = run_pipeline(backend, opts, frames, fps, avatar, workdir, say)
    latency = Stat.of(run.latency)
    n = len(run.latency)
    result = BackendResult(
        name=backend.name if backend is not None else "analytic warp",
        precision=backend.meta.precision if backend is not None else None,
        reason=getattr(backend, "reason", "") or reason, frames=n, fps=round(n / run.wall_s, 2),
        median_ms=latency.median_ms, p95_ms=latency.p95_ms,
        stages={s: Stat.of(run.stages[s]) for s in FRAME_STAGES if s in run.stages},
        model_step=None, fomm_sized_step=None, speedup_vs_fomm_sized=None,
        frames_without_face=run.frames_without_face, cpu_ms_per_frame=round(run.cpu_s * 1000.0 / n, 2),
        dropped=run.dropped, output_frames=run.output_frames, rss=run.rss, in_flight=run.in_flight,
    )
    if backend is None:
        return result
    feeds = run.feeds
    run_fomm: Callable[[], object] | None = None
    if opts.fomm_frames > 0:
        try:
            run_fomm = fomm_sized_runner(RUNTIMES.get(backend.name, backend.name), workdir,
                                         {"source": run.avatar_crop, **feeds})
        except ReenactError as exc:
            say(f"  FOMM-sized: {exc}")
    model, fomm = time_model_and_fomm_sized(lambda: backend.run("frame", feeds), run_fomm, opts)
    result.model_step, result.fomm_sized_step, result.speedup_vs_fomm_sized = model, fomm, speedup(model, fomm)
    return result


def check_options(opts: BenchOptions) -> None:
    if opts.frames < 1 or opts.warmup < 0 or opts.model_runs < 1 or opts.fomm_frames < 0 or opts.load < 0:
        raise ReenactError("--frames, --model-runs must be at least 1; --warmup, --fomm-frames, --load at least 0")
    if opts.output not in OUTPUTS:
        raise ReenactError(f"--output must be one of {', '.join(OUTPUTS)}, not {opts.output!r}")
    if opts.record is not None:
        from reenact.app.containers import container_for

        if opts.output != "mp4":
            raise ReenactError("--record keeps the mp4 output: use it with --output mp4")
        if opts.backend == "all":
            raise ReenactError("--record keeps one backend's recording: use it with one --backend, not all")
        container_for(opts.record)  # a name no video can be written to is refused before any work


def run_bench(opts: BenchOptions, say: Callable[[str], None] = print) -> BenchReport:
    from reenact.app.bench.fomm_sized import build_fomm_sized, parameter_counts
    from reenact.engine.assets import load_image
    from reenact.engine.backends.loader import weights_artifact
    from reenact.engine.mode import choose_mode
    from reenact.engine.model.checkpoint import load_checkpoint
    from reenact.export.artifacts import open_backend

    check_options(opts)
    kinds = backend_kinds(opts.backend)
    # Missing weights: a random-initialised model is timed instead. Damaged ones are said now, before the clip is
    # decoded and searched for a face.
    if opts.weights.exists() and weights_artifact(opts.weights) == "checkpoint":
        load_checkpoint(opts.weights)
    avatar = load_image(opts.avatar)
    frames, fps = load_frames(opts.driving)
    with tempfile.TemporaryDirectory(prefix="reenact-bench-") as tmp:
        workdir = Path(tmp)
        weights, size, random_weights = checkpoint_for(opts, workdir, say)
        report = BenchReport(
            machine=machine_info(), size=size, weights=str(opts.weights), random_weights=random_weights,
            output=opts.output, input_fps=opts.input_fps, warmup=opts.warmup, load=None,
            fomm_sized={"name": DESCRIPTION, "params": parameter_counts(build_fomm_sized()),
                        "frames": opts.fomm_frames},
        )
        loads = []
        with private_cache(workdir, random_weights):
            for kind in kinds:
                # what the app would run: "auto" follows the model-or-warp policy (engine.mode)
                choice = choose_mode("auto", weights, kind)
                backend: Backend | None = None
                if choice.mode == "model":
                    try:
                        backend = open_backend(kind, weights, precision=opts.precision)
                    except (ReenactError, ImportError, RuntimeError, OSError) as exc:
                        if len(kinds) == 1:
                            raise
                        report.unavailable[kind] = " ".join(str(exc).split()) or type(exc).__name__
                        say(f"{kind}: not available here ({report.unavailable[kind]})")
                        continue
                name = backend.name if backend is not None else "analytic warp"
                label = WARP if backend is None else backend.name if kind == "auto" else kind
                say(f"{label}: running {name} "
                    f"({f'soak {opts.soak_s:g} s' if opts.soak_s else f'{opts.frames} frames'}"
                    + (f", {opts.load} busy process(es) beside it" if opts.load else "") + ")")
                try:
                    with BusyLoad(opts.load) as load:
                        report.backends[label] = bench_backend(backend, opts, frames, fps, avatar, workdir, say,
                                                               choice.reason)
                    loads.append(load.record)
                finally:
                    if backend is not None:
                        backend.close()
        if opts.load and loads:
            report.load = {"processes": opts.load, "pinned_to": loads[0].pinned_to,
                           "cpu_s": [round(sum(r.cpu_s[i] for r in loads), 3) for i in range(opts.load)]}
        if report.backends:
            say(f"full-resolution render: the avatar scaled to a {FULL_RES_FACE_PX}-px face")
            report.full_resolution = time_full_resolution(avatar, frames)
        report.machine["load_after"] = load_average()
    if not report.backends:
        raise ReenactError("no backend could run here: " + "; ".join(f"{k}: {v}" for k, v in report.unavailable.items()))
    return report
