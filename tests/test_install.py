"""The package as a user installs it: one `reenact` namespace, with the weights, avatars and clip inside it.

The wheel is built from this checkout and installed without dependencies into a folder of its own; a subprocess run
from another folder must import reenact from there (not from the checkout) and use the trained model.
(`.ci/installed-wheel` does the same in a fresh virtual environment with every dependency installed from the index.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("app", "engine", "export", "training")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("reenact-*.whl")
    return path


def test_every_source_package_is_listed_for_the_wheel() -> None:
    """A new subpackage missing from pyproject.toml would be left out of the wheel and break only when installed."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"reenact." + str(p.parent.relative_to(REPO)).replace(os.sep, ".")
               for folder in SOURCE_FOLDERS for p in (REPO / folder).rglob("__init__.py")}
    assert on_disk <= listed, f"not in pyproject.toml: {sorted(on_disk - listed)}"


def test_the_wheel_holds_one_namespace_with_weights_avatars_and_clip(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"reenact"}
    for needed in ("reenact/assets/weights/reenact.pt", "reenact/assets/avatars/mona_lisa.jpg",
                   "reenact/assets/clips/franck_talk.mp4", "reenact/engine/pipeline.py", "reenact/app/cli.py",
                   "reenact/config/pipeline.yaml"):
        assert needed in names
    assert not [n for n in names if "/state/" in n], "resumable training state must not ship"


def test_the_installed_wheel_runs_the_trained_model_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "REENACT_CACHE_DIR": str(tmp_path / "cache")}
    where = subprocess.run([sys.executable, "-c", "import reenact.engine.assets as a; print(a.DEFAULT_WEIGHTS)"],
                           cwd=run_dir, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site)
    proc = subprocess.run([sys.executable, "-m", "reenact.app.cli", "demo", "--out", "demo.mp4", "--max-frames", "8",
                           "--backend", "torch", "--quiet"],
                          cwd=run_dir, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "mode: trained model" in proc.stdout
    assert (run_dir / "demo.mp4").stat().st_size > 0
