"""The app's outputs: virtual camera (pyvirtualcam with a registered test backend), preview, paced recording."""

from __future__ import annotations

import numpy as np
import pytest

from reenact.app.frames import Frame
from reenact.app.sinks import PacedSink, PreviewSink, VirtualCameraSink, virtual_camera_help
from reenact.engine.errors import ReenactError

VCAM, MISSING = "reenact-test-recorder", "reenact-test-missing"  # registered by the `vcam` fixture


def _frame(w: int, h: int, i: int = 0) -> Frame:
    rng = np.random.default_rng(i)
    return Frame(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), i, i * 33)


@pytest.mark.parametrize("size,fps", [((640, 480), 30), ((1280, 720), 24)])
def test_virtual_camera_gets_frames_of_the_chosen_size_and_rate(vcam, size: tuple[int, int], fps: int) -> None:
    w, h = size
    sent = [_frame(w, h, i) for i in range(3)]
    with VirtualCameraSink(w, h, fps, backend=VCAM) as sink:
        for f in sent:
            sink.write(f)
        cam = vcam.instances[-1]
        assert sink.device == "Test Camera" and sink.frames_written == 3
    assert (cam.width, cam.height, cam.fps) == (w, h, fps)
    assert cam.frames == 3 and not cam.bad_frames and cam.closed
    assert np.array_equal(cam.last, sent[-1].image)  # RGB, unchanged


def test_virtual_camera_declares_the_rgb_pixel_format_it_sends(vcam) -> None:
    """The driver reads the bytes as the declared fourcc: RGB bytes declared BGR swap red and blue on every call."""
    from pyvirtualcam import PixelFormat
    from pyvirtualcam.util import decode_fourcc

    with VirtualCameraSink(64, 48, 30, backend=VCAM):
        cam = vcam.instances[-1]
    assert decode_fourcc(cam.fourcc) == PixelFormat.RGB.value


def test_virtual_camera_drops_the_alpha_of_rgba_frames(vcam) -> None:
    rgba = np.random.default_rng(5).integers(0, 256, (48, 64, 4), dtype=np.uint8)
    with VirtualCameraSink(64, 48, 30, backend=VCAM) as sink:
        sink.write(Frame(rgba, 0, 0))
        cam = vcam.instances[-1]
    assert cam.frames == 1 and not cam.bad_frames
    assert np.array_equal(cam.last, rgba[:, :, :3])


def test_a_write_after_close_reaches_no_camera(vcam) -> None:
    """The worker may hand over one more frame while the camera is being switched off: it is dropped, not sent."""
    sink = VirtualCameraSink(64, 48, 30, backend=VCAM)
    cam = vcam.instances[-1]
    sink.write(_frame(64, 48, 0))
    sink.close()
    sink.write(_frame(64, 48, 1))
    sink.close()  # idempotent
    assert cam.closed and cam.frames == 1 and sink.frames_written == 1


def test_virtual_camera_refuses_another_frame_size(vcam) -> None:
    with VirtualCameraSink(640, 480, 30, backend=VCAM) as sink:
        with pytest.raises(ValueError, match="640×480"):
            sink.write(_frame(1280, 720))
    assert vcam.instances[-1].frames == 0


def test_missing_driver_says_what_to_install(vcam) -> None:
    with pytest.raises(ReenactError) as info:
        VirtualCameraSink(640, 480, 30, backend=MISSING)
    text = str(info.value)
    assert "\n" not in text and virtual_camera_help() in text


def test_help_names_the_driver_for_each_os() -> None:
    assert "exclusive_caps=1" in virtual_camera_help("linux") and "v4l2loopback" in virtual_camera_help("linux")
    assert "OBS" in virtual_camera_help("win32") and "30" in virtual_camera_help("win32")
    assert "OBS" in virtual_camera_help("darwin")


def test_preview_keeps_only_the_newest_frame() -> None:
    sink = PreviewSink()
    assert sink.take() is None
    for i in range(3):
        sink.write(_frame(8, 6, i))
    newest = sink.take()
    assert newest is not None and newest.index == 2 and sink.dropped == 2
    assert sink.take() is None


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class _ListSink:
    def __init__(self) -> None:
        self.indices: list[int] = []
        self.closed = False

    def write(self, frame: Frame) -> None:
        self.indices.append(frame.index)

    def close(self) -> None:
        self.closed = True


def test_paced_recording_repeats_and_skips_to_keep_real_time() -> None:
    clock, inner = _Clock(), _ListSink()
    paced = PacedSink(inner, fps=10, clock=clock)
    paced.write(_frame(4, 4, 0))  # t = 0: frame 0 is due
    clock.t += 0.35  # slow pipeline: frames 1, 2, 3 are due by now
    paced.write(_frame(4, 4, 1))
    clock.t += 0.01  # fast pipeline: nothing new is due yet
    paced.write(_frame(4, 4, 2))
    clock.t += 0.05  # 0.41 s: frame 4 is due
    paced.write(_frame(4, 4, 3))
    assert inner.indices == [0, 1, 1, 1, 3]
    paced.close()
    assert inner.closed


def test_timed_recording_places_each_frame_at_its_time(tmp_path) -> None:
    import cv2

    from reenact.app.sinks import TimedSink, VideoFileSink

    # uneven times, two frames due in one output frame, a gap of 1.4 s; at 10 fps
    times, greys = [0.0, 0.5, 0.52, 0.54, 2.0], [0, 60, 100, 140, 200]
    path = tmp_path / "timed.mp4"
    with VideoFileSink(path, 10) as inner:
        sink = TimedSink(inner, 10)
        for t, g in zip(times, greys, strict=True):
            sink.write(np.full((64, 64, 3), g, np.uint8), t)
        sink.close()
    cap = cv2.VideoCapture(str(path))
    shown = []
    while (got := cap.read())[0]:
        shown.append(int(round(got[1].mean() / 20)) * 20)
    cap.release()
    assert shown == [0] * 5 + [140] * 15 + [200], "t=0.5 s is output frame 5 (of the three due, the last), 2 s is 20"
