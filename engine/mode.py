"""Model or analytic warp: one policy for the demo, the app and every other front end.

The trained model needs weights (a checkpoint or an export folder); the analytic warp needs none. "auto" runs the
model when its weights exist and the warp otherwise, so a fresh install without weights still animates; asking
for the model without weights is the user's mistake, said in one line naming the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from reenact.engine.errors import ReenactError

MODES = ("auto", "model", "warp")
Mode = Literal["model", "warp"]


def resolve_mode(mode: str, weights: str | Path) -> Mode:
    """"model" or "warp" for a requested `mode` (auto, model, warp) and the model weights at `weights`."""
    if mode not in MODES:
        raise ReenactError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "warp":
        return "warp"
    if Path(weights).exists():
        return "model"
    if mode == "auto":
        return "warp"
    raise ReenactError("model weights not found (the analytic warp runs without them: --mode warp, or --backend "
                       "auto in the app)", weights)


def mode_for_backend(kind: str, weights: str | Path) -> Mode:
    """The app's choice, where the backend menu stands for the mode: "auto" may fall back to the warp, a named
    backend means the model."""
    return resolve_mode("auto" if kind == "auto" else "model", weights)
