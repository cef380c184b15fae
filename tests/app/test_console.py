"""A good `reenact demo` prints its progress bar and summary, nothing else; `-v` shows the libraries' logs again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2

from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP

# What a user's shell has: none of the quiet settings the test session itself sets (tests/conftest.py).
_ENV = {k: v for k, v in os.environ.items()
        if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL", "OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")}
_BAR = re.compile(r"reenact: +\d+%\|[^|]*\| *\d+/10 \[[^\]]*\]")
_SUMMARY = [re.compile(p) for p in (r"mode: .+", r"backend: .+", r"frames: \d+, face lost in \d+ .+",
                                     r"per frame: (\w+ [\d.]+ ms(, )?)+", r"wrote .+")]


def _demo(tmp_path: Path, *args: str, source: Path = AVATARS_DIR / "mona_lisa.jpg", driving: Path = DEFAULT_CLIP,
          verbose: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reenact.app.cli", *(["-v"] if verbose else []), "demo", "--source", str(source),
            "--driving", str(driving), "--out", str(tmp_path / "out.mp4"), "--mode", "warp", "--max-frames", "10", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=_ENV)


def test_demo_prints_only_the_progress_bar_and_the_summary(tmp_path: Path) -> None:
    proc = _demo(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bar = [piece for piece in re.split(r"[\r\n]", proc.stderr) if piece.strip()]
    assert bar and all(_BAR.fullmatch(piece) for piece in bar), proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) >= 4 and all(any(p.fullmatch(line) for p in _SUMMARY) for line in lines), proc.stdout


def test_quiet_demo_prints_nothing_on_stderr(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""


def test_a_bad_video_is_exactly_one_line(tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(DEFAULT_CLIP.read_bytes()[:20000])  # a download that stopped: FFmpeg finds no moov atom
    proc = _demo(tmp_path, "--quiet", driving=cut)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("reenact: error: ") and str(cut) in proc.stderr


def test_verbose_shows_the_libraries_logs(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--quiet", verbose=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TensorFlow Lite" in proc.stderr or "inference_feedback_manager" in proc.stderr, proc.stderr
    assert all(line.startswith("reenact: ") for line in proc.stderr.splitlines()), proc.stderr


def test_a_small_face_is_one_warning_line(tmp_path: Path) -> None:
    small = tmp_path / "small.jpg"
    image = cv2.imread(str(AVATARS_DIR / "mona_lisa.jpg"))
    cv2.imwrite(str(small), cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA))  # a 49 px face
    proc = _demo(tmp_path, "--quiet", source=small)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"reenact: warning: {small}: the face is only "), proc.stderr
