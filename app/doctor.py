"""`reenact doctor`: is this machine ready for a call? One line per check: what works, and the exact fix for what
does not.

Setting up a virtual camera is the most common support problem of apps like this one (Chrome lists a v4l2loopback
device only with `exclusive_caps=1`, /dev/video* may not be writable, OBS's camera must be 30+ on macOS), so each
step is checked separately and named, instead of one "no virtual camera" at the end. The window shows the same
report when its virtual camera cannot start.

Everything here only looks: nothing is installed, loaded or downloaded. The checks take the paths they read from a
root folder, so tests can run them against a made-up system.
"""

from __future__ import annotations

import argparse
import enum
import importlib.metadata
import os
import platform
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reenact.engine.assets import DEFAULT_WEIGHTS

PHONE_HINT = "or use a phone as the camera: reenact app --camera http://PHONE-IP:8080/video (IP Webcam, DroidCam)"
MODPROBE = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=reenact"
PERSIST = ("to load it at every boot: echo v4l2loopback | sudo tee /etc/modules-load.d/v4l2loopback.conf; echo "
           "'options v4l2loopback devices=1 exclusive_caps=1 card_label=reenact' | sudo tee "
           "/etc/modprobe.d/v4l2loopback.conf")
OBS_MIN_MAJOR = 30
OBS_CLSID = "{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"  # the OBS Virtual Camera's DirectShow filter
MAC_EXTENSION = "com.obsproject.obs-studio.mac-camera-extension"


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"  # works, but not at its best (no GPU, no model weights)
    FAIL = "FAIL"  # the app will not work for a call until this is fixed


@dataclass(frozen=True, slots=True)
class Check:
    topic: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        tag = f"[{self.status.value}]".ljust(7)
        return f"{tag}{self.topic}: {self.detail}" + (f" -> fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True, slots=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """The app will work for a call: nothing failed (warnings allowed)."""
        return all(c.status is not Status.FAIL for c in self.checks)

    def text(self) -> str:
        problems = sum(c.status is Status.FAIL for c in self.checks)
        last = ("Ready: the app will work." if self.ok else
                f"Not ready: {problems} problem{'s' if problems != 1 else ''}, each with its fix above.")
        return "\n".join([*(c.line() for c in self.checks), last])


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    """What to check. The window passes what it already knows (cameras, backend, Qt) so nothing is probed twice."""

    weights: Path = DEFAULT_WEIGHTS
    platform: str = sys.platform
    root: Path = Path("/")  # where /sys, /dev, /lib/modules, /etc and /Applications are looked for
    cameras: tuple[int, ...] | None = None  # None: probe with OpenCV
    backend: tuple[str, str] | None = None  # (what runs, why), known by a running app; None: load it to see
    qt_platform: str | None = None  # a platform plugin known to work (the running app's); None: try one
    writable: Callable[[Path], bool] = field(default=lambda p: os.access(p, os.W_OK))


# Cameras ---------------------------------------------------------------------------------------------------------
def check_cameras(cameras: Sequence[int], platform_name: str, root: Path) -> Check:
    if cameras:
        return Check("camera", Status.OK, "found " + ", ".join(f"camera {i}" for i in cameras))
    if platform_name.startswith("linux"):
        nodes = sorted(p.name for p in (root / "dev").glob("video*")) if (root / "dev").is_dir() else []
        loopback = set(_loopback_devices(root))
        real = [n for n in nodes if n not in loopback]
        if not real:
            return Check("camera", Status.FAIL, "no camera found (no /dev/video* device besides virtual ones)",
                         f"plug in a webcam and run reenact doctor again, {PHONE_HINT}")
        return Check("camera", Status.FAIL, f"{', '.join('/dev/' + n for n in real)} cannot be opened (in use by "
                     "another program, or no permission)",
                     "close the program that uses the camera; if it persists: sudo usermod -aG video $USER, then "
                     f"log out and back in; {PHONE_HINT}")
    if platform_name == "darwin":
        fix = ("allow the camera for your terminal or reenact in System Settings > Privacy & Security > Camera, "
               f"or plug one in; {PHONE_HINT}")
    else:
        fix = f"plug in a webcam, or close the program that uses it (Windows allows one at a time); {PHONE_HINT}"
    return Check("camera", Status.FAIL, "no camera found", fix)


def _probe_cameras() -> tuple[int, ...]:
    import cv2

    from reenact.app.sources import list_cameras

    previous = cv2.getLogLevel()
    cv2.setLogLevel(0)
    try:
        return tuple(list_cameras())
    finally:
        cv2.setLogLevel(previous)


# The virtual-camera driver ---------------------------------------------------------------------------------------
def _loopback_devices(root: Path) -> list[str]:
    """v4l2loopback's devices (videoN), in creation order: they are the virtual video4linux devices."""
    folder = root / "sys/devices/virtual/video4linux"
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.glob("video*")), key=lambda n: int(re.sub(r"\D", "", n) or 0))


def _distro_install(root: Path) -> str:
    """The package command for v4l2loopback on this distribution (os-release's ID and ID_LIKE)."""
    text = ""
    for name in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / name).read_text()
            break
        except OSError:
            continue
    ids = " ".join(re.findall(r'^(?:ID|ID_LIKE)="?([^"\n]*)"?', text, re.M)).lower().split()
    if any(i in ("fedora", "rhel", "centos") for i in ids):
        return "sudo dnf install akmod-v4l2loopback (from RPM Fusion)"
    if any(i in ("arch", "manjaro") for i in ids):
        return "sudo pacman -S v4l2loopback-dkms linux-headers"
    if any(i in ("opensuse", "suse") for i in ids):
        return "sudo zypper install v4l2loopback-kmp-default"
    return "sudo apt install v4l2loopback-dkms linux-headers-$(uname -r)"


def _module_built(root: Path, release: str) -> bool:
    base = root / "lib/modules" / release
    if not base.is_dir():
        return False
    for sub in ("updates/dkms", "updates", "extra", "kernel/drivers/media/v4l2-core", "misc"):
        if any((base / sub).glob("v4l2loopback.ko*")):
            return True
    return any(base.rglob("v4l2loopback.ko*"))


def check_v4l2loopback(root: Path, release: str, writable: Callable[[Path], bool]) -> list[Check]:
    """Linux: the package, the module, a device Chrome lists (exclusive_caps=1), and permission to write it."""
    topic = "virtual camera (v4l2loopback)"
    module = root / "sys/module/v4l2loopback"
    loaded = module.is_dir()
    if not loaded and not _module_built(root, release):
        sources = sorted(p.name for p in (root / "usr/src").glob("v4l2loopback-*")) if (root / "usr/src").is_dir() else []
        if sources:
            return [Check(topic, Status.FAIL, f"{sources[-1]} is installed but not built for the running kernel "
                          f"{release}", f"sudo apt install linux-headers-{release} (or your distribution's kernel "
                          f"headers), then sudo dkms autoinstall, then {MODPROBE}")]
        return [Check(topic, Status.FAIL, "v4l2loopback is not installed (no kernel module for "
                      f"{release}): call apps cannot see reenact",
                      f"{_distro_install(root)}, then {MODPROBE} ({PERSIST})")]
    if not loaded:
        return [Check(topic, Status.FAIL, "v4l2loopback is installed but not loaded", f"{MODPROBE} ({PERSIST})")]
    devices = _loopback_devices(root)
    if not devices:
        return [Check(topic, Status.FAIL, "v4l2loopback is loaded but made no device",
                      f"sudo modprobe -r v4l2loopback && {MODPROBE}")]
    try:
        caps_text = (module / "parameters/exclusive_caps").read_text().strip()
    except OSError:
        caps_text = ""
    caps = [v.strip().upper() in ("Y", "1") for v in caps_text.split(",")] if caps_text else []
    exclusive = [d for i, d in enumerate(devices) if i < len(caps) and caps[i]]
    checks = []
    if not exclusive:
        shown = ", ".join(f"/dev/{d} ({_device_name(root, d)})" for d in devices)
        checks.append(Check(topic, Status.FAIL, f"{shown} without exclusive_caps=1: Chrome, Firefox, Meet, Teams "
                            "and Zoom in a browser do not list it",
                            f"sudo modprobe -r v4l2loopback && {MODPROBE} (stop programs using it first)"))
        return checks
    device = exclusive[0]
    node = root / "dev" / device
    checks.append(Check(topic, Status.OK, f"/dev/{device} ({_device_name(root, device)}) with exclusive_caps=1"))
    if not node.exists():
        checks.append(Check("virtual camera device", Status.FAIL, f"{node} does not exist although the module made "
                            f"{device}", f"sudo modprobe -r v4l2loopback && {MODPROBE}"))
    elif not writable(node):
        checks.append(Check("virtual camera device", Status.FAIL, f"{node} is not writable by you",
                            "sudo usermod -aG video $USER, then log out and back in (or reboot)"))
    else:
        checks.append(Check("virtual camera device", Status.OK, f"{node} is writable"))
    return checks


def _device_name(root: Path, device: str) -> str:
    try:
        return (root / "sys/devices/virtual/video4linux" / device / "name").read_text().strip() or "no name"
    except OSError:
        return "no name"


def _version_major(text: str | None) -> int | None:
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def check_obs_windows(read_registry: Callable[[str, str], str | None]) -> list[Check]:
    """Windows: the OBS Virtual Camera filter registered (what pyvirtualcam writes to), from OBS 30 or newer.

    `read_registry(key, value)` reads HKEY_LOCAL_MACHINE / HKEY_CLASSES_ROOT values ("" is a key's default)."""
    topic = "virtual camera (OBS)"
    install = f"install OBS Studio {OBS_MIN_MAJOR} or newer from https://obsproject.com (its installer registers " \
              "the OBS Virtual Camera; OBS need not run)"
    registered = read_registry(rf"HKCR\CLSID\{OBS_CLSID}", "") is not None
    version = read_registry(r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\OBS Studio", "DisplayVersion")
    major = _version_major(version)
    if not registered:
        found = f" (OBS {version} is installed, without it)" if version else ""
        return [Check(topic, Status.FAIL, f"the OBS Virtual Camera is not registered{found}", install)]
    if major is not None and major < OBS_MIN_MAJOR:
        return [Check(topic, Status.FAIL, f"OBS {version} is older than {OBS_MIN_MAJOR}", install)]
    return [Check(topic, Status.OK, f"OBS Virtual Camera registered (OBS {version or 'version unknown'})")]


def _windows_registry(key: str, value: str) -> str | None:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    hive_name, _, path = key.partition("\\")
    hive = {"HKLM": winreg.HKEY_LOCAL_MACHINE, "HKCR": winreg.HKEY_CLASSES_ROOT}[hive_name]
    try:
        with winreg.OpenKey(hive, path) as handle:
            return str(winreg.QueryValueEx(handle, value)[0])
    except OSError:
        return None


def check_obs_macos(root: Path, extensions: str | None) -> list[Check]:
    """macOS: OBS 30 or newer with its camera system extension, activated once (`extensions`: the output of
    `systemextensionsctl list`, None when unknown)."""
    topic = "virtual camera (OBS)"
    app = root / "Applications/OBS.app"
    install = f"install OBS Studio {OBS_MIN_MAJOR} or newer from https://obsproject.com, start it, click Start " \
              "Virtual Camera (allow the system extension in System Settings > Privacy & Security), Stop Virtual " \
              "Camera, quit OBS"
    try:
        with open(app / "Contents/Info.plist", "rb") as fh:
            version = str(plistlib.load(fh).get("CFBundleShortVersionString", ""))
    except (OSError, plistlib.InvalidFileException):
        return [Check(topic, Status.FAIL, "OBS Studio is not installed in /Applications", install)]
    major = _version_major(version)
    if major is not None and major < OBS_MIN_MAJOR:
        return [Check(topic, Status.FAIL, f"OBS {version} is older than {OBS_MIN_MAJOR} (macOS 13 and later need "
                      f"its camera extension)", install)]
    if extensions is not None:
        line = next((ln for ln in extensions.splitlines() if MAC_EXTENSION in ln), "")
        if "activated enabled" not in line:
            return [Check(topic, Status.FAIL, f"OBS {version} is installed but its camera extension is not "
                          "activated", "start OBS, click Start Virtual Camera once (allow the system extension in "
                          "System Settings > Privacy & Security), then Stop Virtual Camera and quit OBS; restart "
                          "Zoom or Teams afterwards")]
    return [Check(topic, Status.OK, f"OBS {version} with its virtual camera")]


def _mac_extensions() -> str | None:
    tool = shutil.which("systemextensionsctl")
    if tool is None:
        return None
    try:
        return subprocess.run([tool, "list"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def check_virtual_camera(options: DoctorOptions) -> list[Check]:
    name = options.platform
    if name.startswith("linux"):
        checks = check_v4l2loopback(options.root, platform.release(), options.writable)
    elif name == "win32":
        checks = check_obs_windows(_windows_registry)
    elif name == "darwin":
        checks = check_obs_macos(options.root, _mac_extensions() if options.root == Path("/") else None)
    else:
        checks = [Check("virtual camera", Status.FAIL, f"no virtual-camera driver known for {name}",
                        "reenact's virtual camera works on Linux (v4l2loopback), Windows and macOS (OBS 30+)")]
    return [*checks, check_pyvirtualcam()]


def check_pyvirtualcam() -> Check:
    try:
        version = importlib.metadata.version("pyvirtualcam")
    except importlib.metadata.PackageNotFoundError:
        return Check("pyvirtualcam", Status.FAIL, "not installed (reenact writes to the virtual camera through it)",
                     "pip install 'reenact[virtualcam]'")
    return Check("pyvirtualcam", Status.OK, f"{version} installed")


# What animates the avatar ----------------------------------------------------------------------------------------
def check_gpu() -> Check:
    try:
        import torch

        if torch.cuda.is_available():
            return Check("GPU", Status.OK, f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})")
        cuda_build = torch.version.cuda is not None
    except Exception as exc:  # a broken torch install is worth a line, not a crash
        return Check("GPU", Status.WARN, f"PyTorch cannot say ({exc})")
    if shutil.which("nvidia-smi"):
        why = ("an NVIDIA driver is installed but PyTorch sees no GPU" if cuda_build else
               "an NVIDIA driver is installed but this PyTorch is a CPU build")
        return Check("GPU", Status.WARN, why, "install a CUDA build of torch==2.13.0 and pip install "
                     "'reenact[gpu]' (onnxruntime-gpu); check nvidia-smi lists the GPU")
    return Check("GPU", Status.WARN, "none (no NVIDIA driver): the network runs on the CPU",
                 "for real-time model frames: an NVIDIA GPU with its driver, then pip install 'reenact[gpu]'")


def check_backend(options: DoctorOptions) -> Check:
    if options.backend is not None:
        name, reason = options.backend
        return Check("backend", Status.OK, f"{name}" + (f" ({reason})" if reason else ""))
    if not options.weights.exists():
        return Check("backend", Status.WARN, "the analytic warp (no model weights to run)")
    from reenact.engine.mode import choose_mode

    choice = choose_mode("auto", options.weights)
    if choice.mode == "warp":
        return Check("backend", Status.OK, f"the analytic warp ({choice.reason})")
    from reenact.engine.errors import ReenactError, first_line
    from reenact.export.artifacts import open_backend

    try:
        backend = open_backend("auto", options.weights)
    except ReenactError as exc:
        return Check("backend", Status.WARN, f"no backend can run the model ({first_line(exc, 200)}); the analytic "
                     "warp animates instead", "pip install 'reenact[cpu]' (ONNX Runtime) or a working torch")
    try:
        return Check("backend", Status.OK, f"{backend.name} will run ({backend.reason})")
    finally:
        backend.close()


def check_weights(weights: Path) -> Check:
    from reenact.engine.backends.base import MODEL_VERSION
    from reenact.engine.errors import ReenactError, first_line

    if not weights.exists():
        return Check("model weights", Status.WARN, f"not found at {weights}: the analytic warp animates (lower "
                     "quality)", "reinstall reenact, or pass --weights PATH")
    if weights.is_dir():
        return Check("model weights", Status.OK, f"{weights} (ONNX export, model interface {MODEL_VERSION})")
    try:
        from reenact.engine.model.checkpoint import FORMAT_VERSION, load_checkpoint

        ckpt = load_checkpoint(weights)
    except ReenactError as exc:
        return Check("model weights", Status.WARN, f"{first_line(exc, 200)}: the analytic warp animates instead",
                     "reinstall reenact, or pass --weights with a good checkpoint")
    return Check("model weights", Status.OK, f"{weights} (checkpoint format {FORMAT_VERSION}, model interface "
                 f"{MODEL_VERSION}, {ckpt.model_config.size} px, {ckpt.step} training steps)")


# The window ------------------------------------------------------------------------------------------------------
_QT_PROBE = ("import sys\n"
             "from PyQt6.QtWidgets import QApplication\n"
             "app = QApplication(sys.argv[:1])\n"
             "print('platform=' + app.platformName())\n")


def check_qt(known: str | None, platform_name: str) -> Check:
    """Whether Qt's platform plugin loads, in a child process: a plugin that fails aborts the process."""
    if known is not None:
        return Check("Qt platform plugin", Status.OK, f'"{known}" loads')
    from reenact.app.window import prepare_qt_environment

    prepare_qt_environment()  # as the app does: OpenCV's own Qt paths must not be used
    try:
        proc = subprocess.run([sys.executable, "-c", _QT_PROBE], capture_output=True, text=True, timeout=60,
                              env=os.environ.copy())
    except subprocess.TimeoutExpired:
        return Check("Qt platform plugin", Status.FAIL, "starting Qt did not finish within 60 s",
                     "run reenact doctor again; if it persists, reinstall PyQt6")
    found = re.search(r"platform=(\S+)", proc.stdout)
    if proc.returncode == 0 and found:
        return Check("Qt platform plugin", Status.OK, f'"{found.group(1)}" loads')
    err = proc.stderr
    plugin = re.search(r'platform plugin "([^"]+)"', err)
    name = plugin.group(1) if plugin else os.environ.get("QT_QPA_PLATFORM", "default")
    if platform_name.startswith("linux"):
        missing = re.findall(r"(lib[\w-]+|xcb-cursor0)\S* (?:or [\w-]+ )?is needed", err)
        no_display = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
        fix = "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 (Fedora: " \
              "xcb-util-cursor xcb-util-wm xcb-util-keysyms)"
        if no_display:
            fix += "; and start reenact from your desktop session (no DISPLAY or WAYLAND_DISPLAY is set here)"
        what = f'the "{name}" plugin does not load' + (f" ({', '.join(missing)} missing)" if missing else "")
        return Check("Qt platform plugin", Status.FAIL, what, fix)
    return Check("Qt platform plugin", Status.FAIL, f'the "{name}" plugin does not load',
                 "reinstall PyQt6: pip install --force-reinstall PyQt6")


def run_doctor(options: DoctorOptions | None = None) -> Report:
    options = options or DoctorOptions()
    cameras = options.cameras if options.cameras is not None else _probe_cameras()
    checks = [
        check_cameras(cameras, options.platform, options.root),
        *check_virtual_camera(options),
        check_gpu(),
        check_backend(options),
        check_weights(options.weights),
        check_qt(options.qt_platform, options.platform),
    ]
    return Report(tuple(checks))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("doctor", help="check this machine for a call: cameras, virtual camera, backend, "
                                             "weights, Qt; says the fix for each problem")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="model checkpoint (.pt) or export folder")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    print("reenact doctor: is this machine ready for a call?", flush=True)
    report = run_doctor(DoctorOptions(weights=Path(args.weights)))
    print(report.text())
    return 0 if report.ok else 1
