"""`reenact bench`: how fast the whole pipeline runs here, stage by stage, against a FOMM-sized reference.

The driving clip is decoded into memory first, so frames arrive as a camera delivers them (no decoding in the
loop). Per frame the pipeline runs as the app runs it (landmarks, motion, warp, model, paste-back) followed by the
output stage: the RGB → I420 conversion a virtual camera does for every frame, or a real H.264 encode. Avatar
preparation and source encoding happen before timing starts, as they do once per avatar in the app; warm-up frames
are not counted. The model step is then timed alone on the same feeds, in alternation with the reference network
(FOMM's per-frame work, app.bench_reference) on the same kind of runtime: their ratio is what the network design
buys on this machine. Other programs sharing the cores still change it (a small network of many short operators
suffers more from a busy machine than a big one), so the load average is recorded with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.arguments import non_negative_float, non_negative_int, positive_int
from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP, DEFAULT_WEIGHTS
from reenact.engine.atomic import atomic_path
from reenact.engine.errors import ReenactError

if TYPE_CHECKING:
    from reenact.engine.backends.base import Backend
    from reenact.engine.pipeline import Pipeline

REFERENCE_RUNTIMES = {"torch-cpu": "torch", "onnxruntime-cpu": "onnxruntime"}  # backend name → reference runtime
STAGES = ("landmarks", "motion", "warp", "model", "paste", "output")
OUTPUTS = ("vcam", "mp4", "none")
DEFAULT_AVATAR = AVATARS_DIR / "mona_lisa.jpg"


@dataclass(frozen=True, slots=True)
class BenchOptions:
    backend: str = "auto"
    frames: int = 300
    warmup: int = 20
    size: int | None = None  # None: the weights' size, or 256 without weights
    weights: Path = DEFAULT_WEIGHTS
    avatar: Path = DEFAULT_AVATAR
    driving: Path = DEFAULT_CLIP
    output: str = "vcam"
    model_runs: int = 50
    reference_frames: int = 5  # timed reference steps (0.4–1 s each here), after one warm-up step
    soak_s: float = 0.0
    seed: int = 0


@dataclass(slots=True)
class Run:
    """Samples from one timed pipeline run."""

    stages: dict[str, list[float]]
    total: list[float]  # end to end per frame, ms
    wall_s: float
    frames_without_face: int
    rss: dict[str, float]
    feeds: dict[str, NDArray[np.float32]]  # the frame graph's inputs for the last driving pose


@dataclass(frozen=True, slots=True)
class Stat:
    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Stat:
        a = np.asarray(samples_ms, dtype=np.float64)
        return cls(round(float(np.median(a)), 3), round(float(np.percentile(a, 95)), 3))


@dataclass(slots=True)
class BackendResult:
    name: str  # what actually ran, as the backend names itself
    reason: str
    frames: int
    fps: float
    median_ms: float  # end to end, one frame in, one frame out
    p95_ms: float
    stages: dict[str, Stat]
    model_step: Stat
    reference_step: Stat | None
    ratio_vs_reference: float | None
    frames_without_face: int
    rss: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class BenchReport:
    machine: dict[str, object]
    size: int
    weights: str
    random_weights: bool
    output: str
    warmup: int
    reference: dict[str, object]
    backends: dict[str, BackendResult] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    full_resolution: dict[str, object] = field(default_factory=dict)  # see time_full_resolution

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# Setup ----------------------------------------------------------------------------------------------------------
def machine_info() -> dict[str, object]:
    """Enough to tell two benchmark runs' machines apart, and whether others were busy on this one."""
    import psutil

    from reenact.engine.runtime import cpu_threads

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": cpu_threads(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_before": load_average(),
    }


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages (psutil emulates them where the OS has none, e.g. Windows)."""
    import psutil

    return [round(x, 2) for x in psutil.getloadavg()]


def load_frames(path: Path, limit: int = 1000) -> tuple[list[NDArray[np.uint8]], float]:
    """The clip's frames in memory (they then arrive as from a camera, with no decoding cost) and its fps."""
    from reenact.app.sources import VideoFileSource

    frames = []
    with VideoFileSource(path) as src:
        while len(frames) < limit and (frame := src.read()) is not None:
            frames.append(frame.image)
        fps = src.fps
    if not frames:
        raise ReenactError("the driving video has no frames", path)
    require_face(frames, path)
    return frames, fps


def require_face(frames: list[NDArray[np.uint8]], path: Path) -> None:
    """Without a face the tracker finds nothing and motion transfer does nothing: such timings are not real use."""
    from reenact.engine.face import FaceTracker

    with FaceTracker(static=True) as tracker:
        if not any(tracker.detect(image) is not None for image in frames):
            raise ReenactError(f"no face found in any of its {len(frames)} frames (the driving video must show a "
                               "face)", path)


def checkpoint_for(opts: BenchOptions, workdir: Path, say: Callable[[str], None]) -> tuple[Path, int, bool]:
    """The weights to bench: a checkpoint or export folder, or a random-initialised model of the same architecture."""
    import torch

    from reenact.engine.config import ModelConfig
    from reenact.engine.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from reenact.engine.model.networks import ReenactModel

    if opts.weights.is_dir() or opts.weights.suffix == ".onnx":  # an export folder (ONNX-based backends only)
        from reenact.engine.backends.onnxruntime_backend import read_export_meta

        size = read_export_meta(opts.weights if opts.weights.is_dir() else opts.weights.parent).input_size
        if opts.size is not None and opts.size != size:
            raise ReenactError(f"--size {opts.size} does not match this export's {size}×{size}", opts.weights)
        return opts.weights, size, False
    if opts.weights.is_file():
        ckpt = load_checkpoint(opts.weights)
        if opts.size is None or opts.size == ckpt.model_config.size:
            return opts.weights, ckpt.model_config.size, False
        config = ModelConfig(**{**asdict(ckpt.model_config), "size": opts.size})
        say(f"weights {opts.weights} are {ckpt.model_config.size}×{ckpt.model_config.size}: timing a "
            f"random-initialised model of the same architecture at {opts.size}×{opts.size}")
    else:
        config = ModelConfig(size=opts.size or 256)
        say(f"no trained weights at {opts.weights}: timing a random-initialised model of the same architecture "
            "(time does not depend on the weights)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(opts.seed)
        state = ReenactModel(config).state_dict()
    path = save_checkpoint(Checkpoint(config, state, train_config={"bench": "random init"}), workdir / "random.pt")
    return path, config.size, True


def backend_kinds(choice: str) -> list[str]:
    """`all` → every backend the loader knows (fastest first); anything else is checked by the loader itself."""
    if choice != "all":
        return [choice]
    from reenact.engine.backends import AUTO_ORDER

    return list(AUTO_ORDER)


@contextmanager
def _private_cache(workdir: Path, enabled: bool) -> Iterator[None]:
    """Exports of a throw-away random model go into the bench's temporary folder, not the user's cache."""
    from reenact.engine.backends.cache import CACHE_ENV

    old = os.environ.get(CACHE_ENV)
    if enabled:
        os.environ[CACHE_ENV] = str(workdir / "cache")
    try:
        yield
    finally:
        if enabled:
            if old is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = old


# Output stage ----------------------------------------------------------------------------------------------------
class _VirtualCameraFormat:
    """What a virtual camera does per frame: RGB → I420 (v4l2loopback's and OBS's format), even sides."""

    def write(self, image: NDArray[np.uint8]) -> None:
        import cv2

        h, w = image.shape[0] & ~1, image.shape[1] & ~1
        cv2.cvtColor(np.ascontiguousarray(image[:h, :w]), cv2.COLOR_RGB2YUV_I420)

    def close(self) -> None:
        pass


class _Discard:
    def write(self, image: NDArray[np.uint8]) -> None:
        pass

    def close(self) -> None:
        pass


def open_output(kind: str, workdir: Path, fps: float) -> _VirtualCameraFormat | _Discard:
    if kind == "vcam":
        return _VirtualCameraFormat()
    if kind == "mp4":
        from reenact.app.sinks import VideoFileSink

        return VideoFileSink(workdir / "bench.mp4", fps)  # type: ignore[return-value]
    return _Discard()


# Timing -----------------------------------------------------------------------------------------------------------
@contextmanager
def _clock(into: list[float]) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    into.append((time.perf_counter() - t0) * 1000.0)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def frame_feeds(pipe: Pipeline) -> dict[str, NDArray[np.float32]]:
    """The frame graph's inputs for the pipeline's last pose, as it builds them."""
    assert pipe.avatar is not None
    target = pipe.target
    warp = pipe.avatar.warp
    return pipe.frame_feeds(warp.crop_grid(warp(target)), target)


FULL_RES_FACE_PX = 1024


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


def run_pipeline(
    backend: Backend, opts: BenchOptions, frames: list[NDArray[np.uint8]], fps: float, avatar: NDArray[np.uint8],
    workdir: Path, say: Callable[[str], None],
) -> Run:
    """Warm up, then time `opts.frames` frames (or `opts.soak_s` seconds)."""
    from reenact.engine.config import PipelineConfig
    from reenact.engine.pipeline import Pipeline

    pipe = Pipeline(PipelineConfig(), backend)
    pipe.prepare(avatar, opts.avatar)
    out = open_output(opts.output, workdir, fps)
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    total: list[float] = []
    rss: dict[str, float] = {}
    i = 0

    def one() -> None:
        nonlocal i
        image = frames[i % len(frames)]
        t0 = time.perf_counter()
        result = pipe.step(image, i / fps)
        t1 = time.perf_counter()
        out.write(result.image)
        t2 = time.perf_counter()
        i += 1
        if counting:
            for k, v in result.timings_ms.items():
                stages.setdefault(k, []).append(v)
            stages["output"].append((t2 - t1) * 1000.0)
            total.append((t2 - t0) * 1000.0)

    counting = False
    try:
        for _ in range(opts.warmup):
            one()
        counting = True
        pipe.frames_without_face = 0
        rss["start_mb"] = _rss_mb()
        t_start = time.perf_counter()
        if opts.soak_s > 0:
            next_report = t_start + 30.0
            peak = rss["start_mb"]
            while (now := time.perf_counter()) - t_start < opts.soak_s:
                one()
                if now >= next_report:
                    peak = max(peak, _rss_mb())
                    say(f"  soak {now - t_start:4.0f} s: {len(total)} frames, RSS {_rss_mb():.0f} MB")
                    next_report += 30.0
            rss["peak_mb"] = max(peak, _rss_mb())
        else:
            for _ in range(opts.frames):
                one()
        wall = time.perf_counter() - t_start
        rss["end_mb"] = _rss_mb()
        rss["growth_mb"] = rss["end_mb"] - rss["start_mb"]
        feeds = frame_feeds(pipe)
    finally:
        out.close()
        pipe.close()
    return Run(stages, total, wall, pipe.frames_without_face, {k: round(v, 1) for k, v in rss.items()}, feeds)


# The reference network -------------------------------------------------------------------------------------------
def reference_runner(kind: str, workdir: Path, feeds: dict[str, NDArray[np.float32]]) -> Callable[[], object]:
    """The FOMM-sized reference on `kind` ("torch" or "onnxruntime", CPU); ReenactError for other runtimes."""
    import torch

    from reenact.app.bench_reference import build_reference
    from reenact.engine.runtime import configure_torch

    if kind not in ("torch", "onnxruntime"):
        raise ReenactError(f"the reference network is timed on CPU torch and onnxruntime only, not on {kind}")
    configure_torch()
    net = build_reference()  # built per runtime, not kept: 60 M parameters would sit in every pipeline run's RSS
    names = list(feeds)
    if kind == "torch":
        tensors = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names]

        def run_torch() -> object:
            with torch.inference_mode():
                return net(*tensors)

        return run_torch
    import onnxruntime as ort

    from reenact.engine.backends.onnxruntime_backend import session_options

    path = workdir / "reference.onnx"
    if not path.is_file():
        args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names)
        with warnings.catch_warnings():  # the TorchScript exporter's notes on shape inference
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, str(path), input_names=names, output_names=["image", "mask"],
                              opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    used = {i.name for i in session.get_inputs()}  # the exporter drops inputs the graph never reads
    ort_feeds = {n: np.ascontiguousarray(feeds[n]) for n in names if n in used}
    return lambda: session.run(None, ort_feeds)


# The whole run ---------------------------------------------------------------------------------------------------
def run_bench(opts: BenchOptions, say: Callable[[str], None] = print) -> BenchReport:
    from reenact.app.bench_reference import build_reference, parameter_counts
    from reenact.engine.assets import load_image
    from reenact.engine.backends import load_backend
    from reenact.engine.backends.loader import weights_artifact
    from reenact.engine.model.checkpoint import load_checkpoint

    if opts.frames < 1 or opts.warmup < 0 or opts.model_runs < 1 or opts.reference_frames < 0:
        raise ReenactError("--frames, --model-runs must be at least 1; --warmup, --reference-frames at least 0")
    if opts.output not in OUTPUTS:
        raise ReenactError(f"--output must be one of {', '.join(OUTPUTS)}, not {opts.output!r}")
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
        params = parameter_counts(build_reference())
        report = BenchReport(
            machine=machine_info(), size=size, weights=str(opts.weights), random_weights=random_weights,
            output=opts.output, warmup=opts.warmup,
            reference={"name": "FOMM-sized (keypoint detector + dense motion + generator, vox-256 widths)",
                       "params": params, "frames": opts.reference_frames},
        )
        with _private_cache(workdir, random_weights):
            for kind in kinds:
                try:
                    backend = load_backend(kind, weights)
                except (ReenactError, ImportError, RuntimeError, OSError) as exc:
                    if len(kinds) == 1:
                        raise
                    report.unavailable[kind] = " ".join(str(exc).split()) or type(exc).__name__
                    say(f"{kind}: not available here ({report.unavailable[kind]})")
                    continue
                label = backend.name if kind == "auto" else kind
                say(f"{label}: running {backend.name} "
                    f"({f'soak {opts.soak_s:g} s' if opts.soak_s else f'{opts.frames} frames'})")
                try:
                    report.backends[label] = bench_backend(backend, opts, frames, fps, avatar, workdir, say)
                finally:
                    backend.close()
        if report.backends:
            say(f"full-resolution render: the avatar scaled to a {FULL_RES_FACE_PX}-px face")
            report.full_resolution = time_full_resolution(avatar, frames)
        report.machine["load_after"] = load_average()
    if not report.backends:
        raise ReenactError("no backend could run here: " + "; ".join(f"{k}: {v}" for k, v in report.unavailable.items()))
    return report


def time_model_and_reference(
    run_model: Callable[[], object], run_ref: Callable[[], object] | None, opts: BenchOptions
) -> tuple[Stat, Stat | None]:
    """Model steps and reference steps interleaved, so both see the same machine when others share it."""
    rounds = opts.reference_frames if run_ref is not None else 1
    per_round = -(-opts.model_runs // rounds)
    run_model()
    if run_ref is not None:
        run_ref()  # warm-up: first-run allocations and caches
    model: list[float] = []
    ref: list[float] = []
    for _ in range(rounds):
        for _ in range(per_round):
            with _clock(model):
                run_model()
        if run_ref is not None:
            with _clock(ref):
                run_ref()
    return Stat.of(model), Stat.of(ref) if ref else None


def bench_backend(
    backend: Backend, opts: BenchOptions, frames: list[NDArray[np.uint8]], fps: float,
    avatar: NDArray[np.uint8], workdir: Path, say: Callable[[str], None],
) -> BackendResult:
    """The pipeline run, the model step alone, and the reference on the same kind of runtime."""
    run = run_pipeline(backend, opts, frames, fps, avatar, workdir, say)
    feeds = run.feeds
    run_ref: Callable[[], object] | None = None
    if opts.reference_frames > 0:
        try:
            run_ref = reference_runner(REFERENCE_RUNTIMES.get(backend.name, backend.name), workdir, feeds)
        except ReenactError as exc:
            say(f"  reference: {exc}")
    model, ref = time_model_and_reference(lambda: backend.run("frame", feeds), run_ref, opts)
    end_to_end = Stat.of(run.total)
    return BackendResult(
        name=backend.name, reason=getattr(backend, "reason", ""), frames=len(run.total),
        fps=round(len(run.total) / run.wall_s, 2), median_ms=end_to_end.median_ms, p95_ms=end_to_end.p95_ms,
        stages={s: Stat.of(v) for s, v in run.stages.items() if v}, model_step=model, reference_step=ref,
        ratio_vs_reference=round(ref.median_ms / model.median_ms, 1) if ref else None,
        frames_without_face=run.frames_without_face, rss=run.rss,
    )


# Output ----------------------------------------------------------------------------------------------------------
def format_report(report: BenchReport) -> str:
    m = report.machine
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load average before {m['load_before'][0]}, "
        f"after {m.get('load_after', ['?'])[0]}",
        f"model: {report.size}×{report.size}, " + ("random-initialised weights" if report.random_weights
                                                   else f"weights {report.weights}") + f"; output: {report.output}",
    ]
    busiest = max(m["load_before"][0], m.get("load_after", [0.0])[0])  # type: ignore[index]
    if busiest > 0.5 * m["cores"]:  # type: ignore[operator]
        lines.append(f"note: other programs kept this machine busy (load average up to {busiest:.1f} on "
                     f"{m['cores']} cores): these times are pessimistic")
    ref_params = report.reference["params"]
    lines.append(f"reference: FOMM-sized, {ref_params['total'] / 1e6:.1f} M parameters "  # type: ignore[index]
                 f"({ref_params['dense_motion'] / 1e6 + ref_params['generator'] / 1e6:.1f} M dense motion + generator)")  # type: ignore[index]
    for label, r in report.backends.items():
        lines.append("")
        lines.append(f"{label} ({r.name}): {r.fps:.1f} fps, end-to-end median {r.median_ms:.1f} ms, "
                     f"p95 {r.p95_ms:.1f} ms over {r.frames} frames"
                     + (f" (face lost in {r.frames_without_face})" if r.frames_without_face else ""))
        lines.append(f"  {'stage':<12}{'median ms':>10}{'p95 ms':>10}")
        for s, st in r.stages.items():
            lines.append(f"  {s:<12}{st.median_ms:>10.2f}{st.p95_ms:>10.2f}")
        lines.append(f"  {'model alone':<12}{r.model_step.median_ms:>10.2f}{r.model_step.p95_ms:>10.2f}")
        if r.reference_step is not None:
            lines.append(f"  {'reference':<12}{r.reference_step.median_ms:>10.1f}{r.reference_step.p95_ms:>10.1f}"
                         f"   → model step {r.ratio_vs_reference:.1f}× faster than the reference")
        if "growth_mb" in r.rss:
            lines.append(f"  RSS {r.rss['start_mb']:.0f} → {r.rss['end_mb']:.0f} MB (growth {r.rss['growth_mb']:+.1f} MB)")
    if report.full_resolution:
        f = report.full_resolution
        st = f["paste"]
        lines.append("")
        lines.append(f"full-resolution render, {f['face_px']}-px face ({f['image']} image, {f['region']} region "
                     f"sampled): median {st['median_ms']:.1f} ms, p95 {st['p95_ms']:.1f} ms")  # type: ignore[index]
    for kind, why in report.unavailable.items():
        lines.append(f"{kind}: not available here: {why}")
    return "\n".join(lines)


def _atomic_write(path: Path, write: Callable[[Path], None], overwrite: bool) -> None:
    with atomic_path(path, suffix=".partial" + path.suffix, overwrite=overwrite) as tmp:
        write(tmp)


def write_json(report: BenchReport, path: Path, overwrite: bool = False) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8"),
                  overwrite)


def write_plot(report: BenchReport, path: Path, overwrite: bool = False) -> None:
    """Stacked per-stage medians per backend (with fps and p95), and model step against the reference."""
    _draw(report, path, overwrite)


def _draw(report: BenchReport, path: Path, overwrite: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(report.backends)
    results = list(report.backends.values())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 2.4 + 0.8 * len(labels)), width_ratios=(3, 2))
    left = np.zeros(len(labels))
    colors = plt.get_cmap("tab10")
    for j, stage in enumerate(STAGES):
        widths = np.array([r.stages[stage].median_ms if stage in r.stages else 0.0 for r in results])
        ax1.barh(labels, widths, left=left, color=colors(j), label=stage)
        left += widths
    for y, r in enumerate(results):
        ax1.text(left[y] + 0.5, y, f"{r.fps:.1f} fps, p95 {r.p95_ms:.0f} ms", va="center", fontsize=9)
    ax1.axvline(40.0, color="0.4", linestyle="--", linewidth=1)
    ax1.set_xlim(0, max(60.0, float(left.max()) * 1.45))
    ax1.set_xlabel("median ms per frame (dashed: 25 fps)")
    ax1.set_title("pipeline stages")
    ax1.legend(fontsize=8, ncols=len(STAGES), loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    ys, names = [], []
    for y, (label, r) in enumerate(zip(labels, results, strict=True)):
        ax2.barh(y + 0.2, r.model_step.median_ms, height=0.4, color="tab:green", label="reenact" if y == 0 else None)
        ax2.text(r.model_step.median_ms * 1.1, y + 0.2, f"{r.model_step.median_ms:.1f} ms", va="center", fontsize=8)
        if r.reference_step is not None:
            ax2.barh(y - 0.2, r.reference_step.median_ms, height=0.4, color="tab:gray",
                     label="FOMM-sized reference" if y == 0 else None)
            ax2.text(r.reference_step.median_ms * 1.1, y - 0.2,
                     f"{r.reference_step.median_ms:.0f} ms ({r.ratio_vs_reference:.0f}×)", va="center", fontsize=8)
        ys.append(y)
        names.append(label)
    ax2.set_yticks(ys, names)
    ax2.set_xscale("log")
    ax2.set_xlim(1, 2e4)
    ax2.set_xlabel("model step alone, median ms (log)")
    ax2.legend(fontsize=8, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    ax2.set_title("network per frame")
    title = f"reenact bench, {report.size}×{report.size}, {report.machine['cores']} cores: {report.machine['cpu']}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"), overwrite)
    plt.close(fig)


# Command line ----------------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="measure frames per second and per-stage latency, against a FOMM-sized "
                                            "reference network")
    p.add_argument("--backend", default="auto",
                   help="auto, torch, onnxruntime, tensorrt, ...; all = every backend that loads here (the others "
                        "are listed with the reason)")
    p.add_argument("--frames", type=positive_int, default=300, help="timed frames per backend (after warm-up)")
    p.add_argument("--warmup", type=non_negative_int, default=20, help="frames run before timing starts")
    p.add_argument("--size", type=model_size, default=None, help="model input size (default: the weights', else 256)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                   help="model checkpoint (.pt) or export folder (from reenact export; ONNX-based backends only)")
    p.add_argument("--avatar", default=str(DEFAULT_AVATAR), help="avatar image")
    p.add_argument("--driving", default=str(DEFAULT_CLIP), help="driving video (decoded into memory first)")
    p.add_argument("--output", default="vcam", choices=OUTPUTS,
                   help="output stage: vcam = a virtual camera's RGB→I420 conversion, mp4 = H.264 encode, none")
    p.add_argument("--model-runs", type=positive_int, default=50, help="runs of the model step timed alone")
    p.add_argument("--reference-frames", type=non_negative_int, default=5,
                   help="timed steps of the FOMM-sized reference (0.4–1 s each on 2 cores); 0 = skip it")
    p.add_argument("--soak", type=non_negative_float, default=0.0, metavar="SECONDS",
                   help="run for this long instead of --frames and report memory (RSS) growth")
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON")
    p.add_argument("--plot", default=None, metavar="PATH", help="write a PNG bar chart")
    p.add_argument("--overwrite", action="store_true", help="replace --json/--plot files if they exist")
    p.set_defaults(func=_bench)


def model_size(text: str) -> int:
    """--size within the model's own limits (ModelConfig.size), so a size the network cannot run is refused as
    the option's mistake, not by a tensor-shape error after minutes of setup."""
    from reenact.engine.config import ModelConfig, setting_problem

    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    problem = setting_problem(ModelConfig, "size", size)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return size


def _bench(args: argparse.Namespace) -> int:
    from reenact.engine.atomic import check_output_path

    json_path = check_output_path(args.json, args.overwrite) if args.json else None
    plot_path = check_output_path(args.plot, args.overwrite) if args.plot else None
    opts = BenchOptions(
        backend=args.backend, frames=args.frames, warmup=args.warmup, size=args.size, weights=Path(args.weights),
        avatar=Path(args.avatar), driving=Path(args.driving), output=args.output, model_runs=args.model_runs,
        reference_frames=args.reference_frames, soak_s=args.soak,
    )
    report = run_bench(opts, say=lambda s: print(s, file=sys.stderr, flush=True))
    print(format_report(report))
    if json_path is not None:
        write_json(report, json_path, args.overwrite)
        print(f"wrote {json_path}")
    if plot_path is not None:
        write_plot(report, plot_path, args.overwrite)
        print(f"wrote {plot_path}")
    return 0
