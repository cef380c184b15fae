"""Model or analytic warp: one policy for the demo, the app, the bench and every other front end.

The trained network needs weights (a checkpoint or an export folder); the analytic warp needs none. "auto" runs the
network wherever its weights are, on a CPU and on a GPU alike: on a person it never saw (`reenact eval --heldout`,
docs/mouth_eyes.md) it is closer to the real frames than the warp on L1 (0.0429 against 0.0439; ahead in 68 % of the
frames) and PSNR (22.42 against 22.17 dB), and level on the keypoints (2.066 against 2.074 px; 2.079 against 2.076
with the textured plate) and the identity (0.2658 against 0.2663), as on the held-out frames of the person it
trained on (L1 0.0274 against 0.0285). On two CPU cores it costs a third more CPU a frame (int8: 28–30 against
21–23 ms) and still keeps a call's pace beside a busy process (`reenact bench --load 1`: 31.7–36.6 fps). Without
weights the warp animates, and says why.
Naming a backend, or `--mode model`, runs the network wherever; asking for it without weights is the user's
mistake, said in one line naming the path; `--mode warp` runs the warp.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reenact.engine.errors import ReenactError

MODES = ("auto", "model", "warp")
WARP = "warp"  # a "backend" of its own where the backend stands for the mode (the app, the bench): no network
Mode = Literal["model", "warp"]
UNSEEN = ("on a person it never saw the network is closer to the real frames than the warp (L1, PSNR) and level on "
          "the keypoints; --mode warp runs the warp")


@dataclass(frozen=True, slots=True)
class ModeChoice:
    mode: Mode
    reason: str  # why, in words for the status bar and the logs


def choose_mode(mode: str, weights: str | Path, backend: str = "auto") -> ModeChoice:
    """What animates the avatar for a requested `mode` (auto, model, warp), the weights at `weights` and the
    `backend` asked for ("auto", or a named one, which means the network)."""
    if mode not in MODES:
        raise ReenactError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "warp" or backend == WARP:
        return ModeChoice("warp", "asked for")
    exists = Path(weights).exists()
    if mode == "model" or backend != "auto":
        if not exists:
            raise ReenactError("model weights not found (the analytic warp runs without them: --mode warp, or "
                               "--backend auto in the app)", weights)
        return ModeChoice("model", f"the network asked for ({'--mode model' if mode == 'model' else backend})")
    if not exists:
        return ModeChoice("warp", f"no model weights at {weights}")
    return ModeChoice("model", UNSEEN)


def resolve_mode(mode: str, weights: str | Path, backend: str = "auto") -> Mode:
    """"model" or "warp" (see `choose_mode`)."""
    return choose_mode(mode, weights, backend).mode


def mode_for_backend(kind: str, weights: str | Path) -> Mode:
    """The app's choice, where the backend menu stands for the mode: "auto" follows the policy, a named backend
    means the model."""
    return choose_mode("auto", weights, kind).mode
