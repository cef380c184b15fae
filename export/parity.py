"""Does a backend compute what PyTorch computes? Checked on random inputs and on the pipeline's own inputs.

The baseline is PyTorch fp32 on CPU running the checkpoint (for engines built from an export folder alone, ONNX
Runtime on its fp32 graphs, which match PyTorch to 1e-4). Each graph is compared on identical inputs (the frame
graph gets the baseline encoder's features), so an error is pinned to the graph that made it. "Real" inputs are
recorded from the pipeline itself running a bundled avatar against frames of the bundled driving clip: the crops,
TPS grids and landmarks the model sees in use. Every export is checked on both (`reenact export`, the cache).

Besides each graph output, the frame graph is judged on the crop its layers make of the avatar crop
(`crop_image`, as training composes it): the flow never exceeds 0.1 (normalised crop units), so int8's tolerance
of 0.25 cannot fail on the flow itself, while the crop shows a wrong flow as misplaced avatar pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reenact.engine.backends.base import Backend, ModelMeta
from reenact.engine.backends.formats import tolerance_for
from reenact.engine.backends.tolerance import Tolerance, scaled_errors

Feeds = dict[str, NDArray[np.float32]]
IMAGE = "image"  # the report's name for the crop the frame graph's layers compose


@dataclass(frozen=True, slots=True)
class ParityCase:
    label: str
    source: NDArray[np.float32]  # 1×3×S×S
    frames: tuple[Feeds, ...]  # grid, kp_source, kp_driving per frame


@dataclass(frozen=True, slots=True)
class ParityRow:
    case: str
    graph: str
    output: str
    max_err: float
    mean_err: float
    ok: bool


@dataclass(slots=True)
class ParityReport:
    candidate: str
    precision: str
    tolerance: Tolerance
    baseline: str = "torch-cpu"
    rows: list[ParityRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    def worst(self, graph: str | None = None) -> ParityRow:
        rows = [r for r in self.rows if graph is None or r.graph == graph]
        return max(rows, key=lambda r: r.max_err / self.tolerance.max_err)

    def first_failure(self) -> str:
        bad = [r for r in self.rows if not r.ok]
        if not bad:
            return "none"
        r = bad[0]
        return (f"{r.graph}/{r.output} on {r.case} inputs: max err {r.max_err:.2e}, mean {r.mean_err:.2e} "
                f"(tolerance {self.tolerance.max_err:.2g}, mean {self.tolerance.mean_err:.2g})")

    def format(self) -> str:
        lines = [f"parity {self.candidate} ({self.precision}) vs {self.baseline} (fp32); tolerance max "
                 f"{self.tolerance.max_err:.2g}, mean {self.tolerance.mean_err:.2g}"]
        lines.append(f"  {'inputs':<10} {'graph':<8} {'output':<9} {'max err':>10} {'mean err':>10}")
        # one line per (case, graph, output): the worst frame of the case
        seen: dict[tuple[str, str, str], ParityRow] = {}
        for r in self.rows:
            key = (r.case, r.graph, r.output)
            if key not in seen or r.max_err > seen[key].max_err:
                seen[key] = r
        for r in seen.values():
            lines.append(f"  {r.case:<10} {r.graph:<8} {r.output:<9} {r.max_err:>10.2e} {r.mean_err:>10.2e}"
                         f"  {'ok' if r.ok else 'FAIL'}")
        lines.append("  result: " + ("PASS" if self.ok else f"FAIL ({self.first_failure()})"))
        return "\n".join(lines)


def random_case(meta: ModelMeta, seed: int = 0, frames: int = 2) -> ParityCase:
    """Uniform images, a jittered identity grid and random landmarks: inputs no training set biases."""
    rng = np.random.default_rng(seed)
    s, k = meta.input_size, len(meta.landmark_subset)
    c = (np.arange(s, dtype=np.float32) * 2 + 1) / s - 1
    identity = np.stack(np.meshgrid(c, c, indexing="xy"), -1)[None].astype(np.float32)
    kp_source = rng.uniform(-0.8, 0.8, (1, k, 2)).astype(np.float32)
    feeds = []
    for _ in range(frames):
        feeds.append({
            "grid": (identity + rng.normal(0, 0.03, identity.shape)).astype(np.float32),
            "kp_source": kp_source,
            "kp_driving": (kp_source + rng.normal(0, 0.03, kp_source.shape)).astype(np.float32),
        })
    return ParityCase("random", rng.uniform(0, 1, (1, 3, s, s)).astype(np.float32), tuple(feeds))


def recorded_inputs(reference: Backend, avatars: tuple[str | Path, ...] = ("mona_lisa.jpg",),
                    indices: Iterable[int] = (0, 24, 48), clip: str | Path | None = None
                    ) -> list[tuple[NDArray[np.float32], Feeds]]:
    """Frame-graph inputs as the pipeline makes them in use: each avatar (a bundled one's name, or a path) driven by
    the clip (the bundled one by default), every frame tracked in order and the feeds of the frames at `indices`
    kept, each with the avatar crop its features were encoded (through `reference`) from."""
    import cv2

    from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP, load_image
    from reenact.engine.pipeline import Pipeline

    wanted = sorted(set(indices))
    recorded: list[tuple[NDArray[np.float32], Feeds]] = []
    for avatar in avatars:
        path = Path(avatar) if Path(avatar).is_file() else AVATARS_DIR / avatar
        capture = cv2.VideoCapture(str(clip or DEFAULT_CLIP))
        try:
            with Pipeline(backend=reference) as pipe:
                prepared = pipe.prepare(load_image(path), path)
                for index in range(wanted[-1] + 1 if wanted else 0):
                    ok, bgr = capture.read()
                    if not ok:
                        break
                    tracked = pipe.track(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index / 24.0)
                    if index in wanted:
                        warped = pipe.warp(tracked.target, tracked.driving)
                        assert warped.grid is not None and prepared.source_tensor is not None
                        feeds = {k: np.ascontiguousarray(v, np.float32)
                                 for k, v in pipe.frame_feeds(warped.grid, tracked.target).items()}
                        recorded.append((prepared.source_tensor, feeds))
        finally:
            capture.release()
    if not recorded:
        raise RuntimeError(f"no pipeline inputs recorded from {', '.join(map(str, avatars))} and {clip or DEFAULT_CLIP}")
    return recorded


def real_case(baseline: Backend, avatar: str | Path = "mona_lisa.jpg", clip: str | Path | None = None,
              frame_indices: tuple[int, ...] = (0, 24, 48)) -> ParityCase:
    """The pipeline's own inputs: a bundled avatar driven by frames of the bundled clip."""
    return case_of("real", recorded_inputs(baseline, (avatar,), frame_indices, clip))


def case_of(label: str, recorded: list[tuple[NDArray[np.float32], Feeds]]) -> ParityCase:
    """A case of one avatar's recorded inputs (`recorded_inputs`): its crop, and each frame's motion inputs (the
    encoder's features are the backend's own)."""
    frames = tuple({k: f[k] for k in ("grid", "kp_source", "kp_driving")} for _, f in recorded)
    return ParityCase(label, recorded[0][0], frames)


def crop_image(source: NDArray[np.float32], grid: NDArray[np.float32], layers: Mapping[str, NDArray[np.float32]]
               ) -> NDArray[np.float32]:
    """The 1×3×S×S crop a frame graph's layers make of the avatar crop `source` on the TPS `grid`
    (engine.model.networks.compose_crop, the image training compares with the real frame)."""
    import torch

    from reenact.engine.model.networks import compose_crop

    def tensor(array: NDArray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, np.float32))

    with torch.inference_mode():
        mask, generated = layers.get("mask"), layers.get("generated")  # neither without the generator branch
        image = compose_crop(tensor(source), tensor(grid), None if mask is None else tensor(mask),
                             tensor(layers["flow"]), None if generated is None else tensor(generated))
    return image.numpy()


def frame_feeds(meta: ModelMeta, features: Mapping[str, NDArray[np.float32]], motion: Mapping[str, NDArray[np.float32]]
                ) -> dict[str, NDArray[np.float32]]:
    """The frame graph's feeds from the encoder's features and a frame's motion inputs: only the feature maps the
    graph reads (a model without the generator branch reads only the coarse ones)."""
    both = {**features, **motion}
    return {name: both[name] for name in meta.frame_inputs}


def compare(baseline: Backend, candidate: Backend, cases: list[ParityCase],
            tolerance: Tolerance | None = None) -> ParityReport:
    tol = tolerance or tolerance_for(candidate.name, candidate.meta.precision)
    report = ParityReport(candidate.name, candidate.meta.precision, tol, baseline.name)

    def add(case: str, graph: str, ref: Mapping[str, NDArray], out: Mapping[str, NDArray]) -> None:
        for name, r in ref.items():
            max_err, mean_err = scaled_errors(out[name], r)
            report.rows.append(ParityRow(case, graph, name, max_err, mean_err, tol.accepts(max_err, mean_err)))

    for case in cases:
        feeds = {"source": case.source}
        ref_feats = baseline.run("encoder", feeds)
        add(case.label, "encoder", ref_feats, candidate.run("encoder", feeds))
        for frame in case.frames:
            feeds_now = frame_feeds(baseline.meta, ref_feats, frame)
            ref, out = baseline.run("frame", feeds_now), candidate.run("frame", feeds_now)
            add(case.label, "frame", {**ref, IMAGE: crop_image(case.source, frame["grid"], ref)},
                {**out, IMAGE: crop_image(case.source, frame["grid"], out)})
    return report


def parity_cases(baseline: Backend, real: bool = True) -> list[ParityCase]:
    """Random inputs, and the pipeline's own (bundled avatar and clip, recorded through `baseline`) when `real`."""
    return [random_case(baseline.meta)] + ([real_case(baseline)] if real else [])
