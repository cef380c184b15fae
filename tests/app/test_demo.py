"""`reenact demo` end to end, and its answers to bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reenact.app.cli import main
from reenact.app.sinks import VideoFileSink, ffmpeg_exe, has_audio
from reenact.engine.assets import AVATARS_DIR, DEFAULT_CLIP

AVATAR = AVATARS_DIR / "mona_lisa.jpg"


def _reenact(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reenact.app.cli", *args], capture_output=True, text=True, timeout=300)


def _read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def _codec(path: Path) -> str:
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return next(line for line in info.splitlines() if "Video:" in line)


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("reenact:")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture(scope="module")
def demo_video(tmp_path_factory, static_tracker) -> tuple[Path, list[np.ndarray]]:
    out = tmp_path_factory.mktemp("demo") / "nested" / "result.mp4"  # the folder does not exist yet
    assert main(["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--out", str(out), "--quiet",
                 "--mode", "warp"]) == 0
    return out, _read_video(out)


def test_demo_writes_a_playable_h264_mp4_in_a_new_folder(demo_video, clip_frames):
    out, frames = demo_video
    assert "h264" in _codec(out)
    assert len(frames) == len(clip_frames)
    assert not list(out.parent.glob("*.partial*")), "no temporary file left behind"


def test_demo_output_moves_where_the_face_moves(demo_video, static_tracker):
    from reenact.engine.assets import load_image
    from reenact.engine.landmarks import LEFT_EYE, LIPS, RIGHT_EYE

    _, frames = demo_video
    avatar = load_image(AVATAR)
    lm = static_tracker.detect(avatar)
    stack = np.stack(frames).astype(np.float32)

    def region_change(indices) -> float:
        x0, y0 = lm[list(indices), :2].min(0).astype(int) - 4
        x1, y1 = lm[list(indices), :2].max(0).astype(int) + 4
        return float(stack[:, y0:y1, x0:x1].std(axis=0).mean())

    mouth, eyes = region_change(LIPS), region_change(RIGHT_EYE + LEFT_EYE)
    corner = float(stack[:, -60:, :60].std(axis=0).mean())  # far from the face: only codec noise
    assert mouth > 3 * corner + 2 and eyes > 3 * corner + 2, (mouth, eyes, corner)


def test_side_by_side_has_three_panels(tmp_path):
    out = tmp_path / "sbs.mp4"
    assert main(["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--out", str(out), "--quiet",
                 "--mode", "warp", "--side-by-side", "--max-frames", "6"]) == 0
    frames = _read_video(out)
    assert len(frames) == 6
    h, w = frames[0].shape[:2]
    assert h == 512 and w > 2 * h  # 412×640 avatar | 360×288 clip | result, all 512 high
    blue = frames[0][..., 2].astype(int) - frames[0][..., 0]
    left, middle, right = blue[:40, : w // 5].mean(), blue[:40, 2 * w // 5 : 3 * w // 5].mean(), blue[:40, -w // 5 :].mean()
    assert middle > 60 and left < 30 and right < 30, "the driving clip (blue background) sits in the middle"


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "mine.mp4"
    out.write_bytes(b"precious")
    args = ["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--out", str(out), "--max-frames", "3",
            "--quiet", "--mode", "warp"]
    _one_line_error(_reenact(*args), str(out), "exists")
    assert out.read_bytes() == b"precious"
    assert main([*args, "--overwrite"]) == 0
    assert len(_read_video(out)) == 3


def test_source_without_a_face_is_a_one_line_error(tmp_path, no_face_image):
    proc = _reenact("demo", "--source", str(no_face_image), "--driving", str(DEFAULT_CLIP),
                    "--out", str(tmp_path / "x.mp4"))
    _one_line_error(proc, str(no_face_image), "no face")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("content", [b"", b"this is not a video\n" * 100, b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 4000])
def test_unreadable_driving_file_is_a_one_line_error(tmp_path, content):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(content)
    proc = _reenact("demo", "--source", str(AVATAR), "--driving", str(bad), "--out", str(tmp_path / "x.mp4"))
    _one_line_error(proc, str(bad), "not a readable video")
    assert not (tmp_path / "x.mp4").exists()


def test_missing_files_are_one_line_errors(tmp_path):
    proc = _reenact("demo", "--source", str(tmp_path / "nope.png"), "--driving", str(DEFAULT_CLIP),
                    "--out", str(tmp_path / "x.mp4"))
    _one_line_error(proc, "nope.png", "not found")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    proc = _reenact("demo", "--source", str(broken), "--driving", str(DEFAULT_CLIP), "--out", str(tmp_path / "x.mp4"))
    _one_line_error(proc, "broken.jpg", "not a readable image")


def test_frames_without_a_face_hold_the_last_motion_and_are_counted(tmp_path, clip_frames, capsys):
    driving = tmp_path / "gaps.mp4"
    blank = np.full_like(clip_frames[0], 90)
    with VideoFileSink(driving, 24) as sink:
        for i in range(24):
            sink.write(blank if 10 <= i < 15 else clip_frames[i])
    out = tmp_path / "out.mp4"
    assert main(["demo", "--source", str(AVATAR), "--driving", str(driving), "--out", str(out), "--quiet",
                 "--mode", "warp"]) == 0
    assert "face lost in 5" in capsys.readouterr().out
    frames = _read_video(out)
    assert len(frames) == 24
    assert np.abs(frames[12].astype(int) - frames[9]).mean() < 1.5, "a lost face holds the last good motion"


def test_a_crash_midway_leaves_no_file_under_the_real_name(tmp_path, monkeypatch):
    from reenact.engine.pipeline import Pipeline

    real_track, calls = Pipeline.track, {"n": 0}

    def failing_track(self, frame, timestamp_s=None):  # the first half of every frame's step
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("simulated crash")
        return real_track(self, frame, timestamp_s)

    monkeypatch.setattr(Pipeline, "track", failing_track)
    out = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--out", str(out), "--quiet",
              "--mode", "warp"])
    assert list(tmp_path.iterdir()) == []


def test_driving_audio_is_kept(tmp_path, clip_frames):
    silent = tmp_path / "silent.mp4"
    with VideoFileSink(silent, 24) as sink:
        for frame in clip_frames[:24]:
            sink.write(frame)
    talking = tmp_path / "talking.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-c:v", "copy", "-c:a", "aac", "-shortest", str(talking)],
                   check=True)
    assert has_audio(talking) and not has_audio(silent)
    out = tmp_path / "out.mp4"
    assert main(["demo", "--source", str(AVATAR), "--driving", str(talking), "--out", str(out), "--quiet",
                 "--mode", "warp"]) == 0
    assert has_audio(out)


def test_config_file_is_read_and_checked(tmp_path):
    from reenact.engine.config import PipelineConfig, load_yaml

    shipped = load_yaml(PipelineConfig, Path(__file__).resolve().parents[2] / "config" / "pipeline.yaml")
    assert shipped == PipelineConfig(), "config/pipeline.yaml documents the defaults"
    bad = tmp_path / "bad.yaml"
    bad.write_text("warp:\n  grid_sise: 32\n")
    proc = _reenact("demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--out", str(tmp_path / "x.mp4"),
                    "--config", str(bad))
    _one_line_error(proc, "bad.yaml", "grid_sise")


def _driving_panel(frame: np.ndarray, clip_shape: tuple[int, ...]) -> np.ndarray:
    """The middle panel of a side-by-side frame, scaled back to the driving clip's size."""
    from reenact.engine.assets import load_image

    avatar = load_image(AVATAR)
    h = frame.shape[0]
    x0 = round(avatar.shape[1] * h / avatar.shape[0])
    x1 = x0 + round(clip_shape[1] * h / clip_shape[0])
    return cv2.resize(frame[:, x0:x1], (clip_shape[1], clip_shape[0]), interpolation=cv2.INTER_AREA)


def test_phone_clip_drives_upright_and_keeps_its_audio(tmp_path, phone_clip, clip_frames):
    out = tmp_path / "phone.mp4"
    assert main(["demo", "--source", str(AVATAR), "--driving", str(phone_clip), "--out", str(out), "--quiet",
                 "--mode", "warp", "--side-by-side", "--max-frames", "6"]) == 0
    frames = _read_video(out)
    assert len(frames) == 6
    for i in (0, 5):
        panel = _driving_panel(frames[i], clip_frames[0].shape)
        assert np.abs(panel.astype(int) - clip_frames[i]).mean() < 8, f"frame {i}: the driving panel is upright"
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert has_audio(out) and "Display Matrix" not in info, "the audio is copied, the clip's rotation is not"


def test_variable_frame_rate_clip_shows_each_frame_at_its_time(tmp_path, vfr_clip, read_mark, clip_frames):
    path, times = vfr_clip
    out = tmp_path / "vfr.mp4"
    assert main(["demo", "--source", str(AVATAR), "--driving", str(path), "--out", str(out), "--quiet",
                 "--mode", "warp", "--side-by-side"]) == 0
    cap = cv2.VideoCapture(str(out))
    period = 1.0 / cap.get(cv2.CAP_PROP_FPS)
    shown: list[tuple[float, int]] = []  # (when the output shows it, which driving frame)
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        panel = _driving_panel(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), clip_frames[0].shape)
        shown.append((cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, read_mark(panel)))
    cap.release()
    marks = [m for _, m in shown]
    assert marks == sorted(marks) and set(range(25)) <= set(marks), "in order; none of the slow part dropped"
    for t, m in shown:  # each output frame shows the driving frame due at its time, give or take one frame
        assert times[m] <= t + period + 1e-3, f"driving frame {m} (at {times[m]:.3f} s) shown early, at {t:.3f} s"
        if m + 1 < len(times):
            assert times[m + 1] > t - period - 1e-3, f"driving frame {m} still shown at {t:.3f} s"
    first_shown = {m: t for t, m in reversed(shown)}
    assert first_shown[24] == pytest.approx(2.0, abs=period + 1e-3), "the frame filmed at 2 s is shown at 2 s"
    assert shown[-1][0] == pytest.approx(times[-1], abs=period + 1e-3), "the video lasts as long as the clip"


def test_driving_clip_without_any_face_is_an_error_and_writes_nothing(tmp_path, faceless_clip):
    out = tmp_path / "out.mp4"
    proc = _reenact("demo", "--source", str(AVATAR), "--driving", str(faceless_clip), "--out", str(out),
                    "--quiet", "--mode", "warp")
    _one_line_error(proc, str(faceless_clip), "no face")
    assert not out.exists() and not list(tmp_path.glob("*partial*"))


def test_truncated_clip_is_animated_with_a_warning_giving_both_counts(tmp_path, truncated_clip):
    from reenact.app.sources import VideoFileSource

    with VideoFileSource(truncated_clip) as src:
        listed, decoded = src.frame_count, sum(1 for _ in iter(src.read, None))
    assert listed is not None and decoded < listed - 2, "the clip's header lists frames its data lacks"
    out = tmp_path / "out.mp4"
    proc = _reenact("demo", "--source", str(AVATAR), "--driving", str(truncated_clip), "--out", str(out),
                    "--quiet", "--mode", "warp")
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [ln for ln in proc.stderr.splitlines() if f" {decoded} " in ln and f" {listed} " in ln]
    assert len(warnings) == 1 and str(truncated_clip) in warnings[0], proc.stderr
    assert len(_read_video(out)) == decoded


def test_an_image_as_driving_is_refused(tmp_path):
    out = tmp_path / "x.mp4"
    image = AVATARS_DIR / "astronaut.jpg"
    proc = _reenact("demo", "--source", str(AVATAR), "--driving", str(image), "--out", str(out), "--mode", "warp")
    _one_line_error(proc, str(image), "not a video")
    assert not out.exists()


def test_size_sets_the_output_frame_and_the_default_is_the_avatars_own(tmp_path: Path) -> None:
    from reenact.app.sources import VideoFileSource
    from reenact.engine.assets import load_image

    sized, own = tmp_path / "sized.mp4", tmp_path / "own.mp4"
    common = ["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--quiet", "--mode", "warp",
              "--max-frames", "3"]
    assert main([*common, "--out", str(sized), "--size", "320x240"]) == 0
    assert main([*common, "--out", str(own)]) == 0
    h, w = load_image(AVATAR).shape[:2]
    with VideoFileSource(sized) as a, VideoFileSource(own) as b:
        assert a.read().image.shape == (240, 320, 3)
        assert b.read().image.shape == (h - h % 2, w - w % 2, 3)


def test_head_framing_writes_a_call_sized_video_with_the_face_at_webcam_height(tmp_path: Path, static_tracker) -> None:
    from reenact.app.framing import FaceBox

    head, portrait = tmp_path / "head.mp4", tmp_path / "portrait.mp4"
    common = ["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--quiet", "--mode", "warp",
              "--max-frames", "24", "--size", "1280x720"]
    assert main([*common, "--out", str(head), "--framing", "head"]) == 0
    assert main([*common, "--out", str(portrait), "--framing", "portrait", "--max-frames", "2"]) == 0
    frames = _read_video(head)
    assert len(frames) == 24 and all(f.shape == (720, 1280, 3) for f in frames)
    for i in (0, 12, 23):
        face = FaceBox.around(static_tracker.detect(frames[i]))
        assert 0.35 <= face.height / 720 <= 0.45, f"frame {i}: the face is {face.height / 720:.0%} of the height"
        grey = frames[i].astype(np.float32).mean(axis=2)
        assert grey.std(axis=0).min() > 2 and grey.std(axis=1).min() > 2, "no bars"
    whole = static_tracker.detect(_read_video(portrait)[0])  # a face a tenth of the frame: MediaPipe may miss it
    assert whole is None or FaceBox.around(whole).height / 720 < 0.3, "whole portrait: the entire picture"


def test_head_framing_without_a_size_is_call_sized(tmp_path: Path) -> None:
    out = tmp_path / "head.mp4"
    assert main(["demo", "--source", str(AVATAR), "--driving", str(DEFAULT_CLIP), "--quiet", "--mode", "warp",
                 "--max-frames", "2", "--framing", "head", "--out", str(out)]) == 0
    assert _read_video(out)[0].shape == (720, 1280, 3)
