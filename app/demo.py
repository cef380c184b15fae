"""The offline job: animate a still image from a driving video and write a video file.

It runs the app's own threaded path (app.runner), with an input that waits instead of dropping: every driving
frame is animated, in order, while the stages overlap across frames as they do live.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from reenact.app.capture import Captured, CaptureThread
from reenact.app.containers import container_for
from reenact.app.framer import AvatarFramer
from reenact.app.frames import Frame
from reenact.app.framing import DEFAULT_SIZE, Framing
from reenact.app.handoff import Handoff
from reenact.app.runner import MAX_IN_FLIGHT, FrameJob, PipelinedRunner
from reenact.app.sinks import TimedSink, VideoFileSink
from reenact.app.sources import VideoFileSource
from reenact.engine.assets import DEFAULT_WEIGHTS, load_image
from reenact.engine.atomic import check_not_an_input, check_output_path
from reenact.engine.backends import Backend
from reenact.engine.config import PipelineConfig, load_yaml
from reenact.engine.errors import ReenactError
from reenact.engine.mode import choose_mode
from reenact.engine.neutral_pose import neutral_frame
from reenact.engine.pipeline import STAGES, Pipeline
from reenact.export.artifacts import open_backend

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    source: Path
    driving: Path
    out: Path
    mode: str = "auto"  # "auto" | "model" | "warp"
    backend: str = "auto"
    weights: Path = DEFAULT_WEIGHTS
    precision: str = "auto"  # what the network computes in where the backend can (formats.precision_for)
    motion: str | None = None  # "relative" | "absolute"; None keeps the config's
    reference: str = "auto"  # "auto": the driving frame closest to the avatar's expression; "first"
    side_by_side: bool = False
    overwrite: bool = False
    max_frames: int | None = None
    progress: bool = True
    config: Path | None = None  # YAML PipelineConfig
    size: tuple[int, int] | None = None  # output width, height; None: the avatar's own (long side capped)
    framing: str | None = None  # "head" | "portrait"; None: head when a size is given, else the avatar's own frame


@dataclass(frozen=True, slots=True)
class DemoSummary:
    out: Path
    frames: int
    frames_without_face: int
    frames_clamped: int  # frames whose head motion went beyond what the warp follows (limited)
    mode: str
    backend: str
    backend_reason: str
    stage_ms: dict[str, float]
    mode_reason: str = ""  # why the model or the warp (engine.mode)


def _fit_height(image: NDArray[np.uint8], height: int) -> NDArray[np.uint8]:
    h, w = image.shape[:2]
    width = max(2, round(w * height / h))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


def side_by_side(source: NDArray[np.uint8], driving: NDArray[np.uint8], result: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """source | driving | result at one height, like FOMM's demo."""
    height = min(512, max(256, result.shape[0]))
    height -= height % 2
    return np.concatenate([_fit_height(x, height) for x in (source, driving, result)], axis=1)


MAX_OUTPUT_PX = 4096  # long side of the default output: beyond it players and encoders struggle


def demo_framing(size: tuple[int, int] | None, framing: str | None) -> tuple[tuple[int, int] | None, Framing]:
    """The frame size and framing the demo writes: `--framing head` frames a call-sized (1280×720) picture unless
    `--size` says otherwise; a size alone gets head framing; neither keeps the avatar's own frame."""
    mode = framing or "head"
    if size is None and framing == "head":
        size = DEFAULT_SIZE
    return size, Framing(mode)


def output_size(avatar_shape: tuple[int, ...], size: tuple[int, int] | None, name: str | Path
                ) -> tuple[int, int] | None:
    """The output's width and height when it is not the avatar's own (None): the size asked for, or the avatar's
    scaled to MAX_OUTPUT_PX on its long side (said in one line)."""
    if size is not None:
        return size
    h, w = avatar_shape[:2]
    if max(h, w) <= MAX_OUTPUT_PX:
        return None
    scale = MAX_OUTPUT_PX / max(h, w)
    capped = max(2, round(w * scale)), max(2, round(h * scale))
    log.warning("%s: writing the video at %d×%d (%d px on the long side); --size WxH chooses another size",
                name, *capped, MAX_OUTPUT_PX)
    return capped


def _every_nth_frame(path: Path, limit: int | None, most: int = 240):
    """Up to `most` frames spread over the clip (the reference search need not look at every frame)."""
    with VideoFileSource(path) as src:
        count = min(src.frame_count or most, limit or 1 << 30)
        step = max(1, count // most)
        while (frame := src.read()) is not None and (limit is None or frame.index < limit):
            if frame.index % step == 0:
                yield frame.image


def run_demo(opts: DemoOptions) -> DemoSummary:
    container_for(opts.out)  # a name reenact cannot write is refused before any work
    check_not_an_input(opts.out, {"--source": opts.source, "--driving": opts.driving})
    # Every input is checked before the model loads or a face is looked for: a mistake costs no waiting.
    source_image = load_image(opts.source)
    with VideoFileSource(opts.driving):
        pass
    base = load_yaml(PipelineConfig, opts.config) if opts.config is not None else PipelineConfig()
    config = base if opts.motion is None else replace(base, motion=replace(base.motion, mode=opts.motion))
    choice = choose_mode(opts.mode, opts.weights, opts.backend)
    mode = choice.mode
    out = check_output_path(opts.out, opts.overwrite)
    backend = open_backend(opts.backend, opts.weights, precision=opts.precision) if mode == "model" else None
    with ExitStack() as stack:
        if backend is not None:
            stack.callback(backend.close)
        return replace(_animate(opts, out, source_image, mode, backend, config), mode_reason=choice.reason)


class _Limited:
    """A file source that ends after `limit` frames (--max-frames); remembers whether it was cut short there."""

    def __init__(self, source: VideoFileSource, limit: int | None) -> None:
        self.source, self.limit, self.fps = source, limit, source.fps
        self.cut = False

    def read(self) -> Frame | None:
        frame = self.source.read()
        if frame is not None and self.limit is not None and frame.index >= self.limit:
            self.cut = True
            return None
        return frame

    def close(self) -> None:
        self.source.close()


def _animate(opts: DemoOptions, out: Path, source_image: NDArray[np.uint8], mode: str, backend: Backend | None,
             config: PipelineConfig) -> DemoSummary:
    """Every driving frame, in order, through the app's threaded runner (app.runner), into the video file."""
    totals = dict.fromkeys(STAGES, 0.0)
    with VideoFileSource(opts.driving) as src, Pipeline(config, backend) as pipe:
        avatar = pipe.prepare(source_image, opts.source)
        if opts.reference == "auto" and config.motion.mode == "relative":
            ref = neutral_frame(_every_nth_frame(opts.driving, opts.max_frames), avatar.crop.landmarks)
            if ref is not None:
                pipe.set_reference(ref.landmarks, ref.look)
        asked, framing = demo_framing(opts.size, opts.framing)
        size = output_size(source_image.shape, asked, opts.source)
        # the avatar's own face frames the picture (steady: it follows the head the warp moves only slowly)
        framer = AvatarFramer(avatar, size, framing) if size is not None else None
        full = config.paste.enabled
        total = src.frame_count if opts.max_frames is None else min(opts.max_frames, src.frame_count or opts.max_frames)
        limited = _Limited(src, opts.max_frames)
        frames: Handoff[Captured] = Handoff()  # waits for the pipeline: every frame is animated, none dropped
        capture = CaptureThread(limited, frames, paced=False)
        errors: list[BaseException] = []
        halt = threading.Event()
        with VideoFileSink(out, src.fps, audio_from=opts.driving, overwrite=opts.overwrite) as sink, tqdm(
            total=total, unit="frame", desc="reenact", disable=not opts.progress, file=sys.stderr
        ) as bar:
            timed = TimedSink(sink, src.fps)  # each frame at its own time: variable-rate clips stay in sync

            def admit(captured: Captured) -> FrameJob:
                return FrameJob(captured, captured.frame.image, timestamp_s=captured.frame.timestamp_ms / 1000.0)

            def deliver(job: FrameJob) -> None:
                assert job.result is not None and job.tracked is not None
                for k, v in job.timings_ms.items():
                    if k in totals:
                        totals[k] += v
                t = job.captured.frame.timestamp_ms / 1000.0
                image = job.result.image
                image = image if framer is None else framer.frame(image, job.tracked.target, t, full)
                image = side_by_side(source_image, job.captured.frame.image, image) if opts.side_by_side else image
                timed.write(image, t)
                bar.update(1)

            def failed(exc: BaseException) -> None:
                errors.append(exc)
                halt.set()

            runner = PipelinedRunner(pipe, frames, deliver, admit=admit, on_error=failed, max_in_flight=MAX_IN_FLIGHT)
            capture.start()
            try:
                runner.run(halt, ended=lambda: capture.ended.is_set() and not frames.pending)
            finally:
                capture.stop()
                capture.join()
            if errors:
                raise errors[0]
            if capture.error:
                raise ReenactError(f"reading the driving video failed ({capture.error})", opts.driving)
            _check_faces(opts.driving, pipe)
            timed.close()
        if not limited.cut:
            _warn_if_truncated(opts.driving, pipe.frames, src.frame_count)
        n = pipe.frames
        summary = DemoSummary(out, n, pipe.frames_without_face, pipe.frames_clamped, mode,
                              f"{backend.name} ({backend.meta.precision})" if backend else "none",
                              backend.reason if backend else "",
                              {k: v / max(n, 1) for k, v in totals.items()})
    return summary


def _check_faces(path: Path, pipe: Pipeline) -> None:
    """A clip in which no frame shows a face would give a still picture under the clip's audio: refuse it."""
    if pipe.frames == 0:
        raise ReenactError("the driving video has no frames", path)
    if pipe.frames_without_face == pipe.frames:
        raise ReenactError(f"no face found in any of its {pipe.frames} frames (the driving video must show a face)",
                           path)


def _warn_if_truncated(path: Path, decoded: int, listed: int | None) -> None:
    """A cut-off download decodes fewer frames than its header lists, and the result is that much shorter.
    Containers without a frame count get one estimated from duration × fps, a frame or two off: hence the slack."""
    if listed is not None and listed - decoded > max(2, listed // 100):
        log.warning("%s: only %d of the %d frames its header lists could be decoded (truncated or damaged file?)",
                    path, decoded, listed)
