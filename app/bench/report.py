"""The bench's results: typed records, the printed report, the JSON file and the bar chart."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from reenact.engine.atomic import atomic_path
from reenact.engine.pipeline import FRAME_STAGES

FOMM_TARGET = 20.0  # the model step should be at least this many times faster than the FOMM-sized network


@dataclass(frozen=True, slots=True)
class Stat:
    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Stat:
        a = np.asarray(samples_ms, dtype=np.float64)
        return cls(round(float(np.median(a)), 3), round(float(np.percentile(a, 95)), 3))


def speedup(model: Stat, fomm_sized: Stat | None) -> float | None:
    """How many times faster the model step is than the FOMM-sized one (median ÷ median); < 1 means slower."""
    if fomm_sized is None or model.median_ms <= 0:
        return None
    return round(fomm_sized.median_ms / model.median_ms, 2)


def speedup_words(ratio: float) -> str:
    """The comparison as it stands: "faster" only when it is, and whether it reaches the project's target."""
    if ratio >= 1.0:
        met = "meets" if ratio >= FOMM_TARGET else "short of"
        return f"model step {ratio:.1f}× faster than the FOMM-sized network ({met} the {FOMM_TARGET:.0f}× target)"
    return f"model step {1.0 / ratio:.1f}× SLOWER than the FOMM-sized network"


@dataclass(slots=True)
class BackendResult:
    name: str  # what actually ran, as the backend names itself
    precision: str | None  # what its network computed in; None for the analytic warp
    reason: str
    frames: int  # frames delivered to the output in the timed part
    fps: float  # delivered frames per second of wall time
    median_ms: float  # end-to-end latency: frame taken from the input → handed to the output sinks
    p95_ms: float
    stages: dict[str, Stat]  # engine.pipeline.FRAME_STAGES, each timed on its own thread
    model_step: Stat | None  # the frame network alone, on the same feeds; None for the analytic warp
    fomm_sized_step: Stat | None
    speedup_vs_fomm_sized: float | None  # fomm_sized_step ÷ model_step (medians)
    frames_without_face: int
    cpu_ms_per_frame: float  # this process's CPU time ÷ frames delivered: what the user's other programs pay
    dropped: int = 0  # input frames dropped because a newer one was waiting (only with a camera-paced input)
    output_frames: int = 0  # frames the output sink took (virtual camera) or encoded (mp4 recording)
    rss: dict[str, float] = field(default_factory=dict)
    in_flight: list[dict[str, float]] = field(default_factory=list)  # app.flight's windows: limit, p95, fps, others


@dataclass(slots=True)
class BenchReport:
    machine: dict[str, object]
    size: int
    weights: str
    random_weights: bool
    output: str
    input_fps: float  # 0: as fast as the pipeline takes frames
    warmup: int
    load: dict[str, object] | None  # the busy processes beside the run (--load), None without
    fomm_sized: dict[str, object]
    backends: dict[str, BackendResult] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    full_resolution: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def format_report(report: BenchReport) -> str:
    m = report.machine
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores usable, {m['memory_gib']} GiB; load average before "
        f"{m['load_before'][0]}, after {m.get('load_after', ['?'])[0]}",  # type: ignore[index]
        f"model: {report.size}×{report.size}, " + ("random-initialised weights" if report.random_weights
                                                   else f"weights {report.weights}")
        + f"; output: {report.output}; input: "
        + (f"a {report.input_fps:g} fps camera" if report.input_fps else "as fast as the pipeline takes frames"),
    ]
    if report.load:
        pinned = report.load.get("pinned_to")
        lines.append(f"load: {report.load['processes']} busy process(es) during the run"
                     + (f", pinned to core(s) {pinned}" if pinned else ", not pinned"))
    else:
        busiest = max(m["load_before"][0], m.get("load_after", [0.0])[0])  # type: ignore[index]
        if busiest > 0.5 * m["cores"]:  # type: ignore[operator]
            lines.append(f"note: other programs kept this machine busy (load average up to {busiest:.1f} on "
                         f"{m['cores']} cores): these times are pessimistic")
    params = report.fomm_sized["params"]
    lines.append(f"FOMM-sized network: {params['total'] / 1e6:.1f} M parameters "  # type: ignore[index]
                 f"({params['dense_motion'] / 1e6 + params['generator'] / 1e6:.1f} M dense motion + generator)")  # type: ignore[index]
    for label, r in report.backends.items():
        lines.append("")
        ran = r.name if r.precision is None else f"{r.name}, {r.precision}"
        lines.append(f"{label} ({ran}): {r.fps:.1f} fps, end-to-end latency median {r.median_ms:.1f} ms, "
                     f"p95 {r.p95_ms:.1f} ms over {r.frames} frames; CPU {r.cpu_ms_per_frame:.1f} ms per frame"
                     + (f" (face lost in {r.frames_without_face})" if r.frames_without_face else "")
                     + (f"; {r.dropped} input frames dropped" if r.dropped else ""))
        lines.append(f"  {'stage':<12}{'median ms':>10}{'p95 ms':>10}")
        for s, st in r.stages.items():
            lines.append(f"  {s:<12}{st.median_ms:>10.2f}{st.p95_ms:>10.2f}")
        if r.model_step is not None:
            lines.append(f"  {'model alone':<12}{r.model_step.median_ms:>10.2f}{r.model_step.p95_ms:>10.2f}")
        if r.fomm_sized_step is not None and r.speedup_vs_fomm_sized is not None:
            lines.append(f"  {'FOMM-sized':<12}{r.fomm_sized_step.median_ms:>10.1f}{r.fomm_sized_step.p95_ms:>10.1f}"
                         f"   → {speedup_words(r.speedup_vs_fomm_sized)}")
        if r.in_flight:
            lines.append(f"  frames in flight, window by window: {_runs([int(w['limit']) for w in r.in_flight])} "
                         f"(cores other programs used, last window: {r.in_flight[-1]['others']:.1f})")
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


def _runs(values: list[int]) -> str:
    """1 2 2 3 3 3 → "1, 2 ×2, 3 ×3": a soak's hundreds of windows in one line."""
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return ", ".join(f"{v}" if n == 1 else f"{v} ×{n}" for v, n in out)


def _atomic_write(path: Path, write: Callable[[Path], None], overwrite: bool) -> None:
    with atomic_path(path, suffix=".partial" + path.suffix, overwrite=overwrite) as tmp:
        write(tmp)


def write_json(report: BenchReport, path: Path, overwrite: bool = False) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8"),
                  overwrite)


def write_plot(report: BenchReport, path: Path, overwrite: bool = False) -> None:
    """Per-stage medians per backend (each stage runs on its own thread, so they overlap), with fps and p95, and
    the model step against the FOMM-sized network."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(report.backends)
    results = list(report.backends.values())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 2.4 + 0.8 * len(labels)), width_ratios=(3, 2))
    left = np.zeros(len(labels))
    colors = plt.get_cmap("tab10")
    for j, stage in enumerate(FRAME_STAGES):
        widths = np.array([r.stages[stage].median_ms if stage in r.stages else 0.0 for r in results])
        ax1.barh(labels, widths, left=left, color=colors(j), label=stage)
        left += widths
    for y, r in enumerate(results):
        ax1.text(left[y] + 0.5, y, f"{r.fps:.1f} fps, p95 {r.p95_ms:.0f} ms", va="center", fontsize=9)
    ax1.axvline(1000.0 / 30.0, color="0.4", linestyle="--", linewidth=1)
    ax1.set_xlim(0, max(60.0, float(left.max()) * 1.45))
    ax1.set_xlabel("median ms per stage, summed (stages overlap across frames; dashed: 30 fps)")
    ax1.set_title("pipeline stages")
    ax1.legend(fontsize=8, ncols=len(FRAME_STAGES), loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    ys, names = [], []
    for y, (label, r) in enumerate(zip(labels, results, strict=True)):
        if r.model_step is None:  # the analytic warp runs no network
            continue
        ax2.barh(y + 0.2, r.model_step.median_ms, height=0.4, color="tab:green", label="reenact" if y == 0 else None)
        ax2.text(r.model_step.median_ms * 1.1, y + 0.2, f"{r.model_step.median_ms:.1f} ms", va="center", fontsize=8)
        if r.fomm_sized_step is not None and r.speedup_vs_fomm_sized is not None:
            ax2.barh(y - 0.2, r.fomm_sized_step.median_ms, height=0.4, color="tab:gray",
                     label="FOMM-sized" if y == 0 else None)
            ax2.text(r.fomm_sized_step.median_ms * 1.1, y - 0.2,
                     f"{r.fomm_sized_step.median_ms:.0f} ms ({r.speedup_vs_fomm_sized:.0f}×)", va="center", fontsize=8)
        ys.append(y)
        names.append(label)
    ax2.set_yticks(ys, names)
    ax2.set_xscale("log")
    ax2.set_xlim(1, 2e4)
    ax2.set_xlabel("model step alone, median ms (log)")
    ax2.legend(fontsize=8, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    ax2.set_title("network per frame")
    load = f", {report.load['processes']} busy process(es)" if report.load else ""
    fig.suptitle(f"reenact bench, {report.size}×{report.size}, {report.machine['cores']} cores{load}: "
                 f"{report.machine['cpu']}", fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"), overwrite)
    plt.close(fig)
