"""Face crops and landmarks computed once per video (or folder of frames, or folder of stills) and kept on disk.

Landmark tracking and cropping cost more than a training step on a small CPU, so they are never recomputed per
epoch. A video gets ONE crop box (from its median landmarks, as FOMM's pre-cropped videos have), so head motion
stays visible between any two of its frames. Crops are stored as uint8 .npy files and memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.assets import IMAGE_SUFFIXES, load_image
from reenact.engine.atomic import atomic_path
from reenact.engine.config import CropConfig, FaceConfig, to_dict
from reenact.engine.errors import ReenactError
from reenact.engine.face import FaceTracker, crop_box, crop_face, transform_points

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".mkv")
CACHE_VERSION = 3  # 2: phone clips are tracked upright; 3: crops mirror the frame at its edges (were smeared)


@dataclass(frozen=True, slots=True)
class FaceClip:
    """Face crops of one video and their landmarks in crop pixels."""

    name: str
    crops: NDArray[np.uint8]  # N×S×S×3 RGB (memory-mapped)
    landmarks: NDArray[np.float32]  # N×478×2, crop pixels; NaN where no face was found
    valid: NDArray[np.bool_]  # N

    def __len__(self) -> int:
        return int(self.crops.shape[0])


def find_videos(folder: str | Path) -> list[Path]:
    """Videos and frame folders directly inside `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReenactError("not a folder of videos", folder)
    items = [p for p in sorted(folder.iterdir()) if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
             or (p.is_dir() and any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir()))]
    if not items:
        raise ReenactError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders found", folder)
    return items


def find_avatars(folder: str | Path) -> list[Path]:
    """Avatar images directly inside `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReenactError("not a folder of avatar images", folder)
    avatars = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not avatars:
        raise ReenactError(f"no avatar images ({', '.join(IMAGE_SUFFIXES)}) found", folder)
    return avatars


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_frames(path: Path) -> Iterator[NDArray[np.uint8]]:
    """RGB frames of a video file or of a folder of images (sorted by name)."""
    if path.is_dir():
        for f in _frame_files(path):
            yield load_image(f)
        return
    if not path.is_file():
        raise ReenactError("video not found", path)
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # a phone clip's display rotation, as the app's driving source does
    try:
        ok, bgr = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise ReenactError("not a readable video", path)
        while ok:
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            ok, bgr = cap.read()
    finally:
        cap.release()


def read_range(path: Path, start: int, stop: int | None) -> Iterator[tuple[int, NDArray[np.uint8]]]:
    """(index, frame) of the frames start ≤ index < stop (to the end when stop is None)."""
    for i, frame in enumerate(read_frames(path)):
        if stop is not None and i >= stop:
            return
        if i >= start:
            yield i, frame


def _key(path: Path, size: int, crop: CropConfig) -> str:
    st = path.stat()
    ident = json.dumps([CACHE_VERSION, str(path.resolve()), st.st_size, int(st.st_mtime), size, to_dict(crop)])
    return f"{path.stem}-{hashlib.sha1(ident.encode()).hexdigest()[:10]}"


def _atomic_npy(path: Path, array: NDArray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def track_video(path: Path) -> NDArray[np.float32]:
    """Landmarks (N×478×3, frame pixels; NaN rows where no face) of every frame, tracked without smoothing."""
    rows = []
    with FaceTracker(FaceConfig(), static=False, smooth=False) as tracker:
        for frame in read_frames(path):
            lms = tracker.detect(frame)
            rows.append(np.full((478, 3), np.nan, np.float32) if lms is None else lms)
    if not rows:
        raise ReenactError("no frames", path)
    return np.stack(rows)


def tracked_landmarks(path: str | Path, cache_dir: str | Path) -> NDArray[np.float32]:
    """`track_video`, computed once per video file and kept in the cache."""
    path = Path(path)
    if not path.exists():
        raise ReenactError("video not found", path)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    file = cache_dir / f"{_key(path, 0, CropConfig())}.track.npy"
    if not file.is_file():
        _atomic_npy(file, track_video(path))
    return np.load(file)


def load_clip(path: str | Path, cache_dir: str | Path, size: int = 256, crop: CropConfig | None = None) -> FaceClip:
    """The cached crops and landmarks of a video, computing them on first use."""
    path = Path(path)
    if not path.exists():
        raise ReenactError("video not found", path)
    crop = crop or CropConfig()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _key(path, size, crop)
    lm_file, crop_file = cache_dir / f"{key}.landmarks.npz", cache_dir / f"{key}.crops.npy"
    if not lm_file.is_file() or not crop_file.is_file():
        frame_lms = tracked_landmarks(path, cache_dir)
        valid = ~np.isnan(frame_lms[:, 0, 0])
        if valid.sum() == 0:
            raise ReenactError("no face found in any frame", path)
        box = crop_box(np.nanmedian(frame_lms[valid], axis=0), crop)
        crop_lms = np.full((len(frame_lms), 478, 2), np.nan, np.float32)
        with atomic_path(crop_file, suffix=".npy") as tmp:
            crops = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(frame_lms), size, size, 3))
            for i, frame in enumerate(read_frames(path)):
                if i >= len(frame_lms):
                    break
                fc = crop_face(frame, np.nan_to_num(frame_lms[i]), box, size)
                crops[i] = fc.image
                if valid[i]:
                    crop_lms[i] = transform_points(frame_lms[i][:, :2], fc.to_crop)
            crops.flush()
            del crops
        with atomic_path(lm_file, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, landmarks=crop_lms, valid=valid, box=np.array([box.cx, box.cy, box.side]))
    data = np.load(lm_file)
    return FaceClip(path.stem, np.load(crop_file, mmap_mode="r"), data["landmarks"], data["valid"])


@dataclass(frozen=True, slots=True)
class StillFaces:
    """Face crops of still photos (the largest face of each) and their landmarks in crop pixels."""

    names: tuple[str, ...]
    crops: NDArray[np.uint8]  # M×S×S×3
    landmarks: NDArray[np.float32]  # M×478×2
    photos: tuple[NDArray[np.uint8], ...]  # the full photos, a pool of random backgrounds

    def __len__(self) -> int:
        return int(self.crops.shape[0])


def load_stills(folder: str | Path, cache_dir: str | Path, size: int = 256, crop: CropConfig | None = None) -> StillFaces:
    """Crops of every photo in `folder` that has a face; photos without one still serve as backgrounds."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReenactError("not a folder of face photos", folder)
    crop = crop or CropConfig()
    files = _frame_files(folder)
    if not files:
        raise ReenactError("no images found", folder)
    ident = json.dumps([CACHE_VERSION, [(f.name, f.stat().st_size) for f in files], size, to_dict(crop)])
    cache = Path(cache_dir) / f"stills-{hashlib.sha1(ident.encode()).hexdigest()[:10]}.npz"
    photos = tuple(load_image(f) for f in files)
    if not cache.is_file():
        names, crops, lms = [], [], []
        with FaceTracker(FaceConfig(), static=True) as tracker:
            for f, img in zip(files, photos, strict=True):
                found = tracker.detect(img)
                if found is None:
                    continue
                fc = crop_face(img, found, crop_box(found, crop), size)
                names.append(f.name)
                crops.append(fc.image)
                lms.append(fc.landmarks[:, :2])
        if not crops:
            raise ReenactError("no faces found in any image", folder)
        with atomic_path(cache, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, names=np.array(names), crops=np.stack(crops), landmarks=np.stack(lms).astype(np.float32))
    data = np.load(cache)
    return StillFaces(tuple(str(n) for n in data["names"]), data["crops"], data["landmarks"], photos)
