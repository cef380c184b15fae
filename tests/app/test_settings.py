"""Settings survive a restart, live in REENACT_DATA_DIR when it is set, and bad values fall back to defaults."""

from __future__ import annotations

from pathlib import Path

from reenact.app.settings import AppSettings, data_dir, load_settings, open_settings, save_settings


def test_round_trip(app_data: Path) -> None:
    assert load_settings() == AppSettings()  # nothing stored yet
    chosen = AppSettings(avatar="/x/y.png", source="camera", camera=2, video="/v.mp4", motion="absolute",
                         mirror=False, paste=False, smoothing=0, landmarks=False, output_width=1280,
                         output_height=720, fps=24, framing="portrait", zoom=130, offset=-10,
                         stream_url="rtsp://phone.local:8554/live", geometry=b"\x01\x02\x00\xff", splitter=b"abc")
    save_settings(chosen)
    assert (app_data / "settings.ini").is_file()
    assert load_settings() == chosen


def test_the_default_output_is_call_sized_and_framed_as_a_webcam() -> None:
    d = AppSettings()
    assert (d.output_width, d.output_height, d.fps, d.framing, d.zoom, d.offset) == (1280, 720, 30, "head", 100, 0)


def test_data_dir_follows_the_environment(app_data: Path) -> None:
    assert data_dir() == app_data


def test_bad_values_fall_back_to_defaults(app_data: Path) -> None:
    store = open_settings()
    store.setValue("camera", "not a number")
    store.setValue("fps", 60)
    store.sync()
    loaded = load_settings()
    assert loaded.camera == AppSettings().camera and loaded.fps == 60


def test_default_data_dir_is_the_per_user_app_folder(monkeypatch) -> None:
    monkeypatch.delenv("REENACT_DATA_DIR", raising=False)
    folder = data_dir()
    assert folder.is_absolute() and folder.name == "reenact"
