"""The file-safety helpers every writer uses: the user's umask, and no replacing a file that appeared meanwhile."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reenact.engine.atomic import atomic_path, check_not_an_input
from reenact.engine.errors import ReenactError

WRITE_BOTH = """
import sys
from pathlib import Path
from reenact.engine.atomic import atomic_path, temp_dir_beside
out = Path(sys.argv[1])
with atomic_path(out / "report.json", suffix=".partial.json") as tmp:
    tmp.write_text("{}")
print(temp_dir_beside(out / "folder"))
"""


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_files_and_folders_get_the_umask_permissions(tmp_path: Path, mask: int, file_mode: int, dir_mode: int) -> None:
    proc = subprocess.run([sys.executable, "-c", WRITE_BOTH, str(tmp_path)], capture_output=True, text=True,
                          preexec_fn=lambda: os.umask(mask), check=True)
    folder = Path(proc.stdout.strip())
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == file_mode
    assert stat.S_IMODE(folder.stat().st_mode) == dir_mode


def test_a_file_that_appears_meanwhile_is_kept_and_the_result_put_beside_it(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    with pytest.raises(ReenactError) as info:
        with atomic_path(out, suffix=".partial.json", overwrite=False) as tmp:
            tmp.write_text("new")
            out.write_text("theirs")  # another program, or a second run, takes the name while this one works
    kept = tmp_path / "report.reenact-1.json"
    assert out.read_text() == "theirs"
    assert kept.read_text() == "new"
    message = str(info.value)
    assert "\n" not in message and str(out) in message and str(kept) in message and "--overwrite" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.reenact-1.json"]


def test_the_kept_name_never_replaces_an_earlier_kept_result(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    (tmp_path / "a.reenact-1.json").write_text("first")
    with pytest.raises(ReenactError, match="a.reenact-2.json"):
        with atomic_path(out, overwrite=False) as tmp:
            tmp.write_text("second")
            out.write_text("theirs")
    assert (tmp_path / "a.reenact-1.json").read_text() == "first"
    assert (tmp_path / "a.reenact-2.json").read_text() == "second"


def test_overwrite_replaces(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text("new")
        out.write_text("old")
    assert out.read_text() == "new" and list(tmp_path.iterdir()) == [out]


def test_an_output_that_is_an_input_is_refused_through_links(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the user's clip")
    (tmp_path / "soft.mp4").symlink_to(clip)
    os.link(clip, tmp_path / "hard.mp4")
    for name in ("clip.mp4", "soft.mp4", "hard.mp4"):
        with pytest.raises(ReenactError, match="--driving"):
            check_not_an_input(tmp_path / name, {"--source": tmp_path / "face.jpg", "--driving": clip})
    check_not_an_input(tmp_path / "new.mp4", {"--driving": clip})


def test_an_interrupted_run_removes_every_temporary_file_it_made(tmp_path: Path) -> None:
    """A signal can land between making a temporary file and handing it to the writer that would clean it up:
    the command line's interrupt handling removes what is left, and only that."""
    from reenact.engine.atomic import remove_leftover_temp_files, temp_file_beside

    left = temp_file_beside(tmp_path / "a.mp4", suffix=".partial.mp4")
    finished = temp_file_beside(tmp_path / "b.mp4")
    finished.rename(tmp_path / "b.mp4")
    mine = tmp_path / "user.txt"
    mine.write_text("keep")
    remove_leftover_temp_files()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4", "user.txt"] and not left.exists()
