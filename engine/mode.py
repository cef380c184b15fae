"""Model or analytic warp: one policy for the demo, the app, the bench and every other front end.

The trained network needs weights (a checkpoint or an export folder); the analytic warp needs none. "auto" runs the
warp, on a CPU and on a GPU alike, because on a person it never saw the network is not the better of the two
(`reenact eval --heldout`, docs/mouth_eyes.md): 1 % closer on L1 and level on AED, but further on the keypoints
(2.027 against 2.006 px) and 0.9 dB lower in PSNR. On the held-out frames of the person it trained on it is ahead
by as little (L1 0.0274 against 0.0280, keypoints 1.094 against 1.098 px), and on a CPU it costs a fifth more CPU a
frame, the milliseconds that keep a frame on time when a call shares the machine (docs/performance.md). A network
that beats the warp on people it never saw would be the default again.
Naming a backend, or `--mode model`, runs the network wherever; asking for it without weights is the user's
mistake, said in one line naming the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reenact.engine.errors import ReenactError

MODES = ("auto", "model", "warp")
Mode = Literal["model", "warp"]
UNSEEN = ("on a person it never saw the network measured no better than the warp; --mode model or a named backend "
          "runs it")


@dataclass(frozen=True, slots=True)
class ModeChoice:
    mode: Mode
    reason: str  # why, in words for the status bar and the logs


def choose_mode(mode: str, weights: str | Path, backend: str = "auto") -> ModeChoice:
    """What animates the avatar for a requested `mode` (auto, model, warp), the weights at `weights` and the
    `backend` asked for ("auto", or a named one, which means the network)."""
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
    return ModeChoice("warp", UNSEEN)


def resolve_mode(mode: str, weights: str | Path, backend: str = "auto") -> Mode:
    """"model" or "warp" (see `choose_mode`)."""
    return choose_mode(mode, weights, backend).mode


def mode_for_backend(kind: str, weights: str | Path) -> Mode:
    """The app's choice, where the backend menu stands for the mode: "auto" follows the policy, a named backend
    means the model."""
    return choose_mode("auto", weights, kind).mode
