"""Shared fixtures: real faces and a real driving clip from assets/, decoded once per test session."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP, load_image  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mona_lisa() -> np.ndarray:
    return load_image(AVATARS_DIR / "mona_lisa.jpg")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_image(AVATARS_DIR / "astronaut.jpg")


@pytest.fixture(scope="session")
def clip_path() -> Path:
    return DEFAULT_CLIP


@pytest.fixture(scope="session")
def clip_frames() -> list[np.ndarray]:
    """Every frame of the bundled driving clip, RGB."""
    from reenact.app.sources import VideoFileSource

    frames = []
    with VideoFileSource(DEFAULT_CLIP) as src:
        while (f := src.read()) is not None:
            frames.append(f.image)
    return frames


@pytest.fixture(scope="session")
def static_tracker():
    from reenact.engine.face import FaceTracker

    with FaceTracker(static=True) as tracker:
        yield tracker


@pytest.fixture
def no_face_image(tmp_path: Path) -> Path:
    """A real photograph without a face (a cup of coffee, from scikit-image's public-domain data)."""
    import cv2
    from skimage import data

    path = tmp_path / "coffee.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def phone_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of the bundled clip stored as phones store portrait video: the pixels sideways, plus a display
    matrix that turns them upright when played. It has a tone, so the audio copy sees it too."""
    import subprocess

    import imageio_ffmpeg

    def ffmpeg(*args: str) -> None:
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)

    folder = tmp_path_factory.mktemp("phone")
    sideways, phone = folder / "sideways.mp4", folder / "phone.mp4"
    ffmpeg("-i", str(DEFAULT_CLIP), "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-t", "2",
           "-vf", "transpose=2", "-c:v", "libx264", "-crf", "18", "-c:a", "aac", str(sideways))
    ffmpeg("-display_rotation", "-90", "-i", str(sideways), "-c", "copy", str(phone))
    return phone
