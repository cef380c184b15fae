"""The output router, without Qt: a new output size reopens the virtual camera at that size and ends a recording
(the file complete, under its name); a failing output is closed and said while the others go on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from reenact.app.frames import Frame
from reenact.app.outputs import OutputEvents, OutputFormat, OutputRouter
from reenact.app.sinks import ffmpeg_exe
from tests.app.conftest import NAME


def encoded_frames(path: Path) -> int:
    """Video frames in a file, counted by ffmpeg decoding it (independent of the writer's own count)."""
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    counts = re.findall(r"frame=\s*(\d+)", err)
    return int(counts[-1]) if counts else 0


def _frame(w: int, h: int, i: int) -> Frame:
    return Frame(np.full((h, w, 3), i * 10 % 256, np.uint8), i, i * 33)


def test_a_new_output_size_reopens_the_camera_and_stops_the_recording(vcam, tmp_path: Path) -> None:
    events: list[tuple] = []
    router = OutputRouter(OutputFormat(640, 480, 30), virtual_camera_backend=NAME, events=OutputEvents(
        message=lambda level, text: events.append(("message", level, text)),
        virtual_camera_changed=lambda on, device: events.append(("vcam", on, device)),
        recording_changed=lambda on, path: events.append(("recording", on, path))))
    router.open_virtual_camera()
    path = router.start_recording(tmp_path / "call.mp4")
    for i in range(5):
        router.send(_frame(640, 480, i))
    first = vcam.instances[-1]
    assert (first.width, first.height, first.frames) == (640, 480, 5)
    assert router.frames_recorded >= 1

    assert router.set_format(OutputFormat(320, 240, 30))
    assert first.closed and len(vcam.instances) == 2
    second = vcam.instances[-1]
    assert (second.width, second.height) == (320, 240) and not second.closed
    assert router.recording is None and path.is_file() and encoded_frames(path) >= 1
    assert ("recording", False, str(path)) in events
    assert any(e[0] == "message" and "output size changed" in e[2] for e in events)
    assert events[-2:] == [("vcam", True, "Test Camera"), ("message", "info", "Virtual camera on: Test Camera (320×240, 30 fps).")]

    router.send(_frame(320, 240, 6))
    assert second.frames == 1 and second.last.shape == (240, 320, 3) and not second.bad_frames
    assert not router.set_format(OutputFormat(320, 240, 30))  # the same format: nothing reopened
    assert len(vcam.instances) == 2
    router.close()
    assert second.closed and router.vcam is None


def test_a_failing_output_is_closed_and_said_the_preview_goes_on(vcam, tmp_path: Path) -> None:
    messages: list[str] = []
    router = OutputRouter(OutputFormat(64, 48, 30), virtual_camera_backend=NAME,
                          events=OutputEvents(message=lambda level, text: messages.append(text)))
    router.open_virtual_camera()
    router.send(_frame(32, 24, 1))  # a frame of another size: the camera refuses it
    assert router.vcam is None and vcam.instances[-1].closed
    assert messages and "virtual camera stopped" in messages[-1]
    assert router.preview.take() is not None
    router.close()
