"""What a bench run needs before timing: its options, the machine, the driving frames in memory, the weights."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP, DEFAULT_WEIGHTS
from reenact.engine.errors import ReenactError
from reenact.engine.mode import WARP

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
    output: str = "vcam"  # the app's output router: virtual camera (null driver), recording, or none
    record: Path | None = None  # keep the `--output mp4` recording here (default: a temporary folder)
    overwrite: bool = False  # replace an existing `record` file
    input_fps: float = 0.0  # 0: each frame as soon as the pipeline takes it; else a camera at this rate
    load: int = 0  # busy processes running beside the timed run
    precision: str = "auto"  # what the network computes in where the backend can (formats.precision_for)
    model_runs: int = 50
    fomm_frames: int = 5  # timed FOMM-sized steps (0.4–1 s each here), after one warm-up step
    soak_s: float = 0.0
    seed: int = 0


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
        "machine_cores": psutil.cpu_count() or 1,
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
    """`all` → every backend the loader knows (fastest first), then the analytic warp; anything else is checked by
    the loader itself."""
    if choice != "all":
        return [choice]
    from reenact.engine.backends import AUTO_ORDER

    return [*AUTO_ORDER, WARP]


@contextmanager
def private_cache(workdir: Path, enabled: bool) -> Iterator[None]:
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
