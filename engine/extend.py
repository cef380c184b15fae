"""The avatar's picture continued smoothly beyond its edges, for portraits cut close around the face.

When the head moves away from an edge of a tightly cropped photo, the warp asks for pixels the photo never had.
Sampled with a mirrored border, the head's own features came back upside down beyond the edge: her eyes above her
brows, a second chin below the first, a swirl of hair at a corner. A continuation instead shows what a viewer
takes for the part of the picture just out of view: each edge's own row of pixels carried outward (a forehead cut
at the top goes on as forehead, hair at the side as hair), blurred along the edge more the further out it goes, so
no streak of a single pixel runs to the margin's end. Averaging the pixels nearest to each missing one instead
(push-pull) drew in the features just inside the edge: a forehead cut above the brows continued as a dark smudge
of brow and eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

SPREAD = 0.5  # the blur along the edge, per pixel of distance from it


@dataclass(frozen=True, slots=True)
class Margins:
    """How many pixels the picture is continued by on each side."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    @property
    def any(self) -> bool:
        return max(self.left, self.top, self.right, self.bottom) > 0


def margins_for(shape: tuple[int, int], region: tuple[float, float, float, float], reach: float) -> Margins:
    """The margins a map needs that moves the pixels of `region` (x0, y0, x1, y1, before it is clipped to the
    picture) by up to `reach` px: on each side, `reach` less how far inside the picture the region ends."""
    h, w = shape
    x0, y0, x1, y1 = region

    def beyond(inside: float) -> int:
        return int(np.ceil(np.clip(reach - max(inside, 0.0), 0.0, reach)))

    return Margins(beyond(x0), beyond(y0), beyond(w - x1), beyond(h - y1))


def continued(image: NDArray, margins: Margins, spread: float = SPREAD) -> NDArray:
    """`image` with `margins` added: its edge rows and columns carried outward, each blurred along the edge by
    `spread` times its distance from it; its own pixels unchanged. Left and right first, then top and bottom over the
    widened picture, so the corners continue the side margins."""
    if not margins.any:
        return image
    wide = np.concatenate([_outward(image[:, 0], margins.left, spread)[::-1].transpose(1, 0, 2), image,
                           _outward(image[:, -1], margins.right, spread).transpose(1, 0, 2)], axis=1)
    return np.ascontiguousarray(np.concatenate([_outward(wide[0], margins.top, spread)[::-1], wide,
                                                _outward(wide[-1], margins.bottom, spread)], axis=0))


def _outward(edge: NDArray, count: int, spread: float) -> NDArray:
    """`count` lines continuing an edge line (N×C) outward, the nearest first: line t is the edge blurred along
    itself with a sigma of `spread` × (t + 1), interpolated between blurs an octave apart (each made once)."""
    if count == 0:
        return np.empty((0, *edge.shape), edge.dtype)
    line = edge.astype(np.float32)[None]  # 1×N×C
    sigmas = spread * (np.arange(count, dtype=np.float32) + 1)
    levels = [0.0]
    while levels[-1] < sigmas[-1]:
        levels.append(spread if levels[-1] == 0 else 2 * levels[-1])
    blurs = np.stack([line[0]] + [_blurred(line, sigma)[0] for sigma in levels[1:]])  # L×N×C
    at = np.asarray(levels, np.float32)
    j = np.clip(np.searchsorted(at, sigmas, side="right") - 1, 0, len(at) - 2)
    a = ((sigmas - at[j]) / (at[j + 1] - at[j]))[:, None, None]
    out = (1 - a) * blurs[j] + a * blurs[j + 1]
    return np.round(out).astype(edge.dtype) if np.issubdtype(edge.dtype, np.integer) else out.astype(edge.dtype)


def _blurred(line: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """A 1×N×C line blurred along itself: a wide blur made on the line shrunk, which changes nothing visible."""
    n = line.shape[1]
    k = max(1, min(n, int(sigma / 2)))
    small = line if k == 1 else cv2.resize(line, (max(1, n // k), 1), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma * small.shape[1] / n, sigmaY=1e-3,
                               borderType=cv2.BORDER_REPLICATE)
    return blurred if k == 1 else cv2.resize(blurred, (n, 1), interpolation=cv2.INTER_LINEAR)
