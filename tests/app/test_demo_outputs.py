"""What `reenact demo` and the app's recordings write: a file the user can share, in the container its name says,
never over one of the inputs or a file that appeared meanwhile, and nothing left behind when stopped."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reenact.app.cli import main
from reenact.app.sinks import VideoFileSink, ffmpeg_exe
from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP
from reenact.engine.errors import ReenactError

AVATAR = AVATARS_DIR / "mona_lisa.jpg"
CLI = [sys.executable, "-m", "reenact.app.cli"]


def _demo_args(out: Path | str, *extra: str, driving: Path = DEFAULT_CLIP) -> list[str]:
    return ["demo", "--source", str(AVATAR), "--driving", str(driving), "--out", str(out), "--mode", "warp",
            "--max-frames", "3", "--quiet", *extra]


def _reenact(args: list[str], mask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(mask))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("reenact:")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _stream_info(path: Path) -> str:
    """What ffmpeg says about a file: its container (Input #0, ...), metadata and streams."""
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


# Permissions ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600)])
def test_demo_output_has_the_permissions_the_umask_asks_for(tmp_path: Path, mask: int, expected: int) -> None:
    out = tmp_path / "result.mp4"
    proc = _reenact(_demo_args(out), mask)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _mode(out) == expected


def test_overwrite_does_not_make_a_shared_file_private(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    out.write_bytes(b"an older result")
    out.chmod(0o644)
    proc = _reenact(_demo_args(out, "--overwrite"), 0o022)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _mode(out) == 0o644 and out.read_bytes() != b"an older result"


RECORD = """
import sys
import numpy as np
from reenact.app.frames import Frame
from reenact.app.sinks import PacedSink, VideoFileSink
sink = PacedSink(VideoFileSink(sys.argv[1], 24, overwrite=True), 24)  # as the app's Record button makes it
for i in range(5):
    sink.write(Frame(np.full((64, 64, 3), 40 * i, np.uint8), i, i * 41))
sink.close()
"""


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600)])
def test_app_recordings_have_the_permissions_the_umask_asks_for(tmp_path: Path, mask: int, expected: int) -> None:
    out = tmp_path / "recording.mp4"
    subprocess.run([sys.executable, "-c", RECORD, str(out)], check=True, timeout=120,
                   preexec_fn=lambda: os.umask(mask))
    assert _mode(out) == expected


# Inputs are never outputs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["same", "symlink", "symlink-to-source"])
def test_an_output_that_is_an_input_is_refused_even_with_overwrite(tmp_path: Path, how: str) -> None:
    driving = tmp_path / "clip.mp4"
    shutil.copy(DEFAULT_CLIP, driving)
    source = tmp_path / "face.jpg"
    shutil.copy(AVATAR, source)
    out, option = driving, "--driving"
    if how != "same":
        out = tmp_path / "link.mp4"
        out.symlink_to(source if how == "symlink-to-source" else driving)
        option = "--source" if how == "symlink-to-source" else "--driving"
    args = ["demo", "--source", str(source), "--driving", str(driving), "--out", str(out), "--mode", "warp",
            "--quiet", "--overwrite"]
    _one_line_error(_reenact(args), str(out), option)
    assert driving.read_bytes() == DEFAULT_CLIP.read_bytes()
    assert source.read_bytes() == AVATAR.read_bytes()


# Containers -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled clip with a sound track, so the audio codec of each container shows."""
    path = tmp_path_factory.mktemp("talking") / "talking.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(DEFAULT_CLIP), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=2", "-t", "1", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", "aac", str(path)], check=True)
    return path


@pytest.mark.parametrize("ext,container,video,audio", [
    (".mp4", "major_brand     : isom", "Video: h264", "Audio: aac"),
    (".mov", "major_brand     : qt", "Video: h264", "Audio: aac"),
    (".mkv", "Input #0, matroska,webm", "Video: h264", "Audio: aac"),
    (".webm", "Input #0, matroska,webm", "Video: vp9", "Audio: opus"),
    (".gif", "Input #0, gif", "Video: gif", None),
])
def test_the_extension_picks_the_container(tmp_path: Path, talking_clip: Path, ext: str, container: str,
                                           video: str, audio: str | None) -> None:
    out = tmp_path / f"result{ext}"
    assert main(_demo_args(out, driving=talking_clip)) == 0
    info = _stream_info(out)
    assert container in info and video in info, info
    if audio is None:
        assert "Audio:" not in info, info
    else:
        assert audio in info, info
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


@pytest.mark.parametrize("name", ["result.png", "notes.txt", "result", "clips/"])
def test_an_output_reenact_cannot_write_is_refused_with_one_line(tmp_path: Path, name: str) -> None:
    out = f"{tmp_path}/{name}"
    line = _one_line_error(_reenact(_demo_args(out)), str(Path(out)))
    assert ".mp4" in line or "folder" in line.replace(str(tmp_path), "")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_as_output_is_refused_as_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    line = _one_line_error(_reenact(_demo_args(folder)), str(folder))
    assert "folder" in line.replace(str(folder), "")
    assert list(folder.iterdir()) == []


# The name is checked again when the video is finished ---------------------------------------------------------------

def _write_frames(sink: VideoFileSink, n: int = 6) -> None:
    for i in range(n):
        sink.write(np.full((48, 64, 3), 30 * i, np.uint8))


def test_a_file_that_appeared_while_writing_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    sink = VideoFileSink(out, 24)
    _write_frames(sink)
    out.write_bytes(b"made by someone else meanwhile")
    with pytest.raises(ReenactError) as info:
        sink.close()
    kept = tmp_path / "result.reenact-1.mp4"
    assert out.read_bytes() == b"made by someone else meanwhile"
    message = str(info.value)
    assert "\n" not in message and str(kept) in message and "--overwrite" in message
    assert "Video: h264" in _stream_info(kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4", "result.reenact-1.mp4"]


def test_with_overwrite_a_file_that_appeared_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    sink = VideoFileSink(out, 24, overwrite=True)
    _write_frames(sink)
    out.write_bytes(b"made meanwhile")
    sink.close()
    assert "Video: h264" in _stream_info(out)
    assert list(tmp_path.iterdir()) == [out]


# Stopped from outside -----------------------------------------------------------------------------------------------

def test_sigterm_removes_the_partial_file_and_exits_143(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    args = ["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--out", str(out), "--mode", "warp",
            "--quiet"]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".result.*.partial.mp4")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the demo never started writing"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
