"""Model or analytic warp: one policy for the demo, the app, the bench and every other front end.

The trained network needs weights (a checkpoint or an export folder); the analytic warp needs none. "auto" runs the
network where a GPU runs it and the warp everywhere else:
- without weights there is nothing to run, so a fresh install still animates;
- on a CPU the network costs a fifth more CPU a frame (30 against 25 ms with ONNX Runtime int8 on two cores) and buys
  nothing measured on faces it never saw: driving the bundled avatars (`reenact eval --cross`), the model and the
  warp give the same mouth, eye and identity figures to within 0.011, and on the held-out frames of the person it
  trained on, the same keypoint and identity distances (docs/mouth_eyes.md). Those milliseconds are what keeps a
  frame on time when a call shares the machine (docs/performance.md);
- on a GPU the network costs under a millisecond and is 5 % closer to the real frames on L1.
Naming a backend, or `--mode model`, runs the network wherever; asking for it without weights is the user's
mistake, said in one line naming the path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reenact.engine.errors import ReenactError

MODES = ("auto", "model", "warp")
Mode = Literal["model", "warp"]
ON_CPU = ("no GPU here: on faces it never saw the network measured no better than the warp, at a fifth more CPU a "
          "frame; a named backend runs the network")


@dataclass(frozen=True, slots=True)
class ModeChoice:
    mode: Mode
    reason: str  # why, in words for the status bar and the logs


def _gpu_backend() -> str | None:
    from reenact.engine.backends.loader import gpu_backend

    return gpu_backend()


def choose_mode(mode: str, weights: str | Path, backend: str = "auto",
                gpu: Callable[[], str | None] = _gpu_backend) -> ModeChoice:
    """What animates the avatar for a requested `mode` (auto, model, warp), the weights at `weights` and the
    `backend` asked for ("auto", or a named one, which means the network); `gpu` names the GPU backend that can
    run here, or None."""
    if mode not in MODES:
        raise ReenactError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "warp":
        return ModeChoice("warp", "asked for")
    exists = Path(weights).exists()
    if mode == "model" or backend != "auto":
        if not exists:
            raise ReenactError("model weights not found (the analytic warp runs without them: --mode warp, or "
                               "--backend auto in the app)", weights)
        return ModeChoice("model", f"the network asked for ({'--mode model' if mode == 'model' else backend})")
    if not exists:
        return ModeChoice("warp", f"no model weights at {weights}")
    on_gpu = gpu()
    if on_gpu is None:
        return ModeChoice("warp", ON_CPU)
    return ModeChoice("model", f"a GPU runs the network here ({on_gpu})")


def resolve_mode(mode: str, weights: str | Path, backend: str = "auto") -> Mode:
    """"model" or "warp" (see `choose_mode`)."""
    return choose_mode(mode, weights, backend).mode


def mode_for_backend(kind: str, weights: str | Path) -> Mode:
    """The app's choice, where the backend menu stands for the mode: "auto" follows the policy, a named backend
    means the model."""
    return choose_mode("auto", weights, kind).mode
