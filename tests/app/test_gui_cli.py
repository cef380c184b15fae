"""`reenact app` starts, animates the bundled clip and exits cleanly; bad arguments give one line and exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reenact.engine.assets import DEFAULT_CLIP

# Long enough for the first frame on a busy 2-core machine: the app starts MediaPipe, the network and the avatar's
# layers (its segmentation and background plate) before it shows anything, about 4–5 s there.
RUN_S = "10"


def _reenact(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "REENACT_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "reenact.app.cli", "app", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_app_runs_on_the_bundled_clip(tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    proc = _reenact(tmp_path, "--driving", str(DEFAULT_CLIP), "--avatar", "mona_lisa", "--exit-after", RUN_S,
                    "--screenshot", str(shot))
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = int(re.search(r"frames shown: (\d+)", proc.stdout).group(1))
    assert shown > 0
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert (tmp_path / "data" / "settings.ini").is_file()
    assert "Traceback" not in proc.stderr
    # Quiet by default: neither the offscreen plugin's resize notes nor MediaPipe's start-up logs
    assert "propagateSizeHints" not in proc.stderr and "inference_feedback_manager" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--driving", "missing.mp4"], "driving video not found"),
    (["--avatar", "nobody"], "avatar image not found"),
    (["--backend", "torch", "--weights", "missing.pt"], "model weights not found"),
    (["--exit-after", "0"], "argument --exit-after: must be > 0"),
    (["--camera", "-1"], "argument --camera: must be ≥ 0"),
    (["--camera", "ftp://phone/video"], "argument --camera: ftp://phone/video: not a stream URL"),
    (["--camera", "webcam"], "argument --camera: must be a camera number or a stream URL"),
    (["--backend", "fastest"], "unknown backend 'fastest'"),
])
def test_bad_arguments_give_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _reenact(tmp_path, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith(("reenact: error:", "reenact app: error:"))


def test_app_drives_from_a_phone_stream_given_as_camera_url(tmp_path: Path, mjpeg_server) -> None:
    proc = _reenact(tmp_path, "--camera", mjpeg_server.url, "--avatar", "mona_lisa", "--exit-after", RUN_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(re.search(r"frames shown: (\d+)", proc.stdout).group(1)) > 0
    assert mjpeg_server.served > 0 and "Traceback" not in proc.stderr
