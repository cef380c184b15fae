"""The output frames of one avatar: its framing set up once from its own face, then applied to each animated image.

Kept apart from `app.framing` (pure image geometry) because this part knows the engine's avatar: where its face is
and where the warp has moved the head (`Pipeline.target`, in the avatar crop's pixels).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from reenact.app.framing import FaceBox, Framing, SteadyHead, fit_to_frame, frame_head
from reenact.engine.face import transform_points
from reenact.engine.pipeline import PreparedAvatar


class AvatarFramer:
    """Frames an avatar's animated images at `size` (w, h) with `framing`.

    Head framing applies to the whole portrait (paste-back on); the face crop alone ("face only") is shown whole.
    """

    def __init__(self, avatar: PreparedAvatar, size: tuple[int, int], framing: Framing) -> None:
        self.size, self.framing = size, framing
        self._image, self._crop, self._to_frame = avatar.image, avatar.crop.image, avatar.crop.to_frame
        self.home = FaceBox.around(transform_points(avatar.crop.landmarks, avatar.crop.to_frame))
        self.head = SteadyHead(self.home)

    def frame(self, image: NDArray[np.uint8], target: NDArray, t: float, full: bool = True) -> NDArray[np.uint8]:
        """The output frame for an animated `image` whose landmarks the warp moved to `target` (crop pixels), at
        time `t` in seconds."""
        if not full or self.framing.mode != "head":
            return fit_to_frame(image, *self.size)
        moved = FaceBox.around(transform_points(np.asarray(target)[:, :2], self._to_frame))
        return frame_head(image, self.head.follow((moved.cx, moved.cy), t), self.size, self.framing)

    def still(self, full: bool = True) -> NDArray[np.uint8]:
        """The avatar at rest, framed as its animated frames will be."""
        if not full or self.framing.mode != "head":
            return fit_to_frame(self._image if full else self._crop, *self.size)
        return frame_head(self._image, self.head.current, self.size, self.framing)
