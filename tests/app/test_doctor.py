"""`reenact doctor`: one line per check, the exact fix for each problem, exit 1 when the app will not work."""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reenact.app.doctor import (
    MODPROBE,
    Status,
    check_cameras,
    check_obs_macos,
    check_obs_windows,
    check_v4l2loopback,
)

RELEASE = "6.8.0-45-generic"


def _reenact(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REENACT_DATA_DIR": str(tmp_path / "data"), "REENACT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "reenact.app.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.skipif(not sys.platform.startswith("linux") or Path("/sys/module/v4l2loopback").exists()
                    or any(Path("/dev").glob("video*")), reason="this machine: Linux, no camera, no v4l2loopback")
def test_doctor_on_this_machine_names_the_missing_camera_and_driver_with_their_fixes(tmp_path: Path) -> None:
    proc = _reenact(tmp_path, "doctor")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    camera = next(ln for ln in lines if re.match(r"\[FAIL\] +camera: ", ln))
    assert "no camera found" in camera and "fix: plug in a webcam" in camera and "--camera http://" in camera
    driver = next(ln for ln in lines if re.match(r"\[FAIL\] +virtual camera \(v4l2loopback\): ", ln))
    assert "v4l2loopback is not installed" in driver
    assert "fix: sudo apt install v4l2loopback-dkms" in driver and MODPROBE in driver
    for topic in ("pyvirtualcam", "GPU", "backend", "model weights", "Qt platform plugin"):
        assert any(re.match(rf"\[(ok|warn|FAIL)\] +{re.escape(topic)}: ", ln) for ln in lines), topic
    backend = next(ln for ln in lines if "backend:" in ln)
    # what animates (the network, on the fastest backend that loads here), and why that backend
    assert re.search(r"\[ok\] +backend: \S+ will run \(auto: fastest available", backend), backend
    assert re.search(r"model weights: .*reenact\.pt \(checkpoint format \d+, model interface \d+", proc.stdout)
    assert lines[-1].startswith("Not ready: ")


def _linux(tmp_path: Path, *, built: bool = False, loaded: bool = False, caps: str = "Y", node: bool = True
           ) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=ubuntu\nID_LIKE=debian\n')
    if built:
        folder = root / "lib/modules" / RELEASE / "updates/dkms"
        folder.mkdir(parents=True)
        (folder / "v4l2loopback.ko.zst").write_bytes(b"")
    if loaded:
        (root / "sys/module/v4l2loopback/parameters").mkdir(parents=True)
        (root / "sys/module/v4l2loopback/parameters/exclusive_caps").write_text(caps + "\n")
        device = root / "sys/devices/virtual/video4linux/video9"
        device.mkdir(parents=True)
        (device / "name").write_text("reenact\n")
        (root / "dev").mkdir()
        if node:
            (root / "dev/video9").write_bytes(b"")
    return root


def _one(checks, topic: str):
    return next(c for c in checks if c.topic == topic)


def test_each_v4l2loopback_step_is_named_with_its_fix(tmp_path: Path) -> None:
    yes = lambda p: True  # noqa: E731
    missing = check_v4l2loopback(_linux(tmp_path / "a"), RELEASE, yes)
    assert missing[0].status is Status.FAIL and "not installed" in missing[0].detail
    assert missing[0].fix.startswith("sudo apt install v4l2loopback-dkms")

    source_only = _linux(tmp_path / "b")
    (source_only / "usr/src/v4l2loopback-0.12.7").mkdir(parents=True)
    unbuilt = check_v4l2loopback(source_only, RELEASE, yes)[0]
    assert "not built for the running kernel" in unbuilt.detail and "dkms autoinstall" in unbuilt.fix

    not_loaded = check_v4l2loopback(_linux(tmp_path / "c", built=True), RELEASE, yes)[0]
    assert "not loaded" in not_loaded.detail and not_loaded.fix.startswith(MODPROBE)

    no_caps = check_v4l2loopback(_linux(tmp_path / "d", built=True, loaded=True, caps="N"), RELEASE, yes)[0]
    assert no_caps.status is Status.FAIL and "/dev/video9 (reenact) without exclusive_caps=1" in no_caps.detail
    assert "Chrome" in no_caps.detail and "modprobe -r v4l2loopback" in no_caps.fix

    root = _linux(tmp_path / "e", built=True, loaded=True)
    locked = check_v4l2loopback(root, RELEASE, lambda p: False)
    assert _one(locked, "virtual camera (v4l2loopback)").status is Status.OK
    device = _one(locked, "virtual camera device")
    assert device.status is Status.FAIL and "not writable" in device.detail
    assert "usermod -aG video" in device.fix and "log out" in device.fix

    ready = check_v4l2loopback(root, RELEASE, yes)
    assert all(c.status is Status.OK for c in ready) and "exclusive_caps=1" in ready[0].detail


def test_obs_on_windows_and_macos(tmp_path: Path) -> None:
    clsid = r"HKCR\CLSID\{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"
    uninstall = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\OBS Studio"

    def registry(values: dict[tuple[str, str], str]):
        return lambda key, value: values.get((key, value))

    assert check_obs_windows(registry({}))[0].status is Status.FAIL
    old = check_obs_windows(registry({(clsid, ""): "OBS Virtual Camera", (uninstall, "DisplayVersion"): "29.1.3"}))[0]
    assert old.status is Status.FAIL and "older than 30" in old.detail and "OBS Studio 30" in old.fix
    good = check_obs_windows(registry({(clsid, ""): "OBS Virtual Camera", (uninstall, "DisplayVersion"): "31.0.2"}))
    assert good[0].status is Status.OK and "31.0.2" in good[0].detail

    assert check_obs_macos(tmp_path, None)[0].status is Status.FAIL
    contents = tmp_path / "Applications/OBS.app/Contents"
    contents.mkdir(parents=True)
    with open(contents / "Info.plist", "wb") as fh:
        plistlib.dump({"CFBundleShortVersionString": "30.2.0"}, fh)
    inactive = check_obs_macos(tmp_path, "0 extension(s)\n")[0]
    assert inactive.status is Status.FAIL and "Start Virtual Camera" in inactive.fix
    listed = "*\t*\tABC\tcom.obsproject.obs-studio.mac-camera-extension (30.2.0)\tOBS\t[activated enabled]\n"
    assert check_obs_macos(tmp_path, listed)[0].status is Status.OK


def test_cameras_found_or_the_fix(tmp_path: Path) -> None:
    assert check_cameras((0, 2), "linux", tmp_path).status is Status.OK
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/video0").write_bytes(b"")
    busy = check_cameras((), "linux", tmp_path)
    assert busy.status is Status.FAIL and "/dev/video0 cannot be opened" in busy.detail and "video" in busy.fix
    assert "Privacy & Security" in check_cameras((), "darwin", tmp_path).fix
