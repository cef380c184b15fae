"""The user's avatar folder: only images with a face get in, bundled avatars cannot be removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reenact.app.avatars import AvatarLibrary
from reenact.engine.assets import AVATARS_DIR, bundled_avatars
from reenact.engine.errors import ReenactError


def test_lists_bundled_avatars_first(tmp_path: Path) -> None:
    avatars = AvatarLibrary(tmp_path / "mine").avatars()
    assert [a.path for a in avatars] == bundled_avatars()
    assert all(a.bundled for a in avatars) and len(avatars) >= 3


def test_adds_a_portrait_by_copying_it(tmp_path: Path) -> None:
    original = tmp_path / "Portrait.JPG"
    shutil.copyfile(AVATARS_DIR / "mona_lisa.jpg", original)
    lib = AvatarLibrary(tmp_path / "mine")
    added = lib.add(original)
    assert added.path.parent == tmp_path / "mine" and not added.bundled
    assert added.path.read_bytes() == original.read_bytes() and original.exists()
    again = lib.add(original)  # the same name twice: a new file, never an overwrite
    assert again.path != added.path and added.path.exists()
    mine = [a.path for a in lib.avatars() if not a.bundled]
    assert mine == [added.path, again.path]
    assert not list((tmp_path / "mine").glob(".*partial"))


def test_rejects_an_image_without_a_face(tmp_path: Path, no_face_image: Path) -> None:
    lib = AvatarLibrary(tmp_path / "mine")
    with pytest.raises(ReenactError, match="no face") as info:
        lib.add(no_face_image)
    assert str(no_face_image) in str(info.value)
    assert not (tmp_path / "mine").exists() or not any((tmp_path / "mine").iterdir())
    assert all(a.bundled for a in lib.avatars())


def test_rejects_files_that_are_not_images(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    lib = AvatarLibrary(tmp_path / "mine")
    with pytest.raises(ReenactError, match="not an image"):
        lib.add(text)
    with pytest.raises(ReenactError, match="not a readable image"):
        lib.add(broken)


def test_removes_user_avatars_but_never_bundled_ones(tmp_path: Path) -> None:
    lib = AvatarLibrary(tmp_path / "mine")
    added = lib.add(AVATARS_DIR / "astronaut.jpg")
    with pytest.raises(ReenactError, match="bundled"):
        lib.remove(bundled_avatars()[0])
    assert bundled_avatars()[0].exists()
    lib.remove(added.path)
    assert not added.path.exists()
    assert all(a.bundled for a in lib.avatars())
