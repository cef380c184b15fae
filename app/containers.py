"""Which file a video output becomes, by its extension: the one table of containers and codecs reenact writes.

Every codec here is inside the ffmpeg binary that imageio-ffmpeg ships (libx264, libvpx-vp9, libopus, aac, gif),
so an output the table accepts is one this install can write. Anything else is refused before any work starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reenact.engine.errors import ReenactError

_H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p")
# Each frame gets its own palette: a single palette for the whole clip would have to hold every frame in memory.
_GIF_PALETTE = "split[a][b];[a]palettegen=stats_mode=single:reserve_transparent=0[p];[b][p]paletteuse=new=1"


@dataclass(frozen=True, slots=True)
class Container:
    name: str  # what the user is told
    muxer: str  # ffmpeg -f
    video: tuple[str, ...]  # encoder arguments
    audio: tuple[str, ...] | None  # encoder arguments for the driving clip's sound; None: the format has no sound


CONTAINERS: dict[str, Container] = {
    ".mp4": Container("MP4 (H.264, AAC)", "mp4", (*_H264, "-movflags", "+faststart"), ("-c:a", "aac")),
    ".mov": Container("QuickTime (H.264, AAC)", "mov", (*_H264, "-movflags", "+faststart"), ("-c:a", "aac")),
    ".mkv": Container("Matroska (H.264, AAC)", "matroska", _H264, ("-c:a", "aac")),
    ".webm": Container("WebM (VP9, Opus)", "webm",
                       ("-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "good", "-cpu-used", "5",
                        "-row-mt", "1", "-pix_fmt", "yuv420p"), ("-c:a", "libopus")),
    ".gif": Container("animated GIF (no sound)", "gif", ("-filter_complex", _GIF_PALETTE, "-loop", "0"), None),
}


def container_for(path: str | Path) -> Container:
    """The container for an output name; one line naming the choices when reenact cannot write that kind of file."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise ReenactError("is a folder; give a video file name, e.g. result.mp4", text)
    suffix = Path(text).suffix.lower()
    if suffix not in CONTAINERS:
        what = f"a {suffix} file" if suffix else "a name without an extension"
        raise ReenactError(f"cannot write {what} as a video; use one of {', '.join(CONTAINERS)}", text)
    return CONTAINERS[suffix]
