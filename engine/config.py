"""Typed settings for every stage, loadable from YAML, so no dict of strings travels through the code."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reenact.engine.errors import ReenactError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OneEuroConfig:
    """One-euro filter: low jitter when still, low lag when moving. min_cutoff lower = smoother."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class CropConfig:
    """Square crop around the face: side = scale × landmark extent, centre moved up by offset × side."""

    size: int = 256
    scale: float = 1.9
    offset: float = 0.06


@dataclass(frozen=True, slots=True)
class FaceConfig:
    crop: CropConfig = field(default_factory=CropConfig)
    smoothing: OneEuroConfig = field(default_factory=OneEuroConfig)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    max_faces: int = 4


@dataclass(frozen=True, slots=True)
class MotionConfig:
    """relative: the avatar keeps its face shape and takes the driving face's change from a reference frame."""

    mode: str = "relative"  # "relative" | "absolute"
    expression_gain: float = 1.0
    rotation: bool = True
    translation_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in ("relative", "absolute"):
            raise ReenactError(f"motion mode must be 'relative' or 'absolute', not {self.mode!r}")


@dataclass(frozen=True, slots=True)
class WarpConfig:
    """Thin-plate-spline warp from landmarks, solved on a coarse grid and upsampled (cheap, smooth)."""

    grid_size: int = 64
    regularization: float = 0.01  # smooths the spline: no fold-over when a turning head moves points past each other
    border_points: int = 8  # per side


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the networks. Stored inside every checkpoint, so weights always come with their architecture."""

    size: int = 256
    encoder_channels: tuple[int, ...] = (16, 32, 64)
    frame_channels: int = 32
    keypoints: int = 0  # filled from engine.landmarks at build time when 0
    expression_dim: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_channels", tuple(self.encoder_channels))


@dataclass(frozen=True, slots=True)
class PasteConfig:
    feather: float = 0.12  # fraction of the crop side used for the soft edge
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    face: FaceConfig = field(default_factory=FaceConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    paste: PasteConfig = field(default_factory=PasteConfig)


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build a (nested) dataclass from plain data, refusing unknown keys so typos do not pass silently."""
    data = data or {}
    if not isinstance(data, dict):
        raise ReenactError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ReenactError(f"{where or cls.__name__}: unknown setting(s) {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value, f"{where}.{name}" if where else name)
        elif typing.get_origin(hint) is tuple:
            kwargs[name] = _tuple(hint, value, f"{where}.{name}" if where else name)
        elif hint is Path or (typing.get_origin(hint) in (typing.Union, types.UnionType) and Path in typing.get_args(hint)):
            kwargs[name] = None if value is None else Path(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _tuple(hint: Any, value: Any, where: str) -> tuple:
    """A tuple field from a list; `tuple[SomeDataclass, ...]` items are built like any nested dataclass."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ReenactError(f"{where}: expected a list, got {type(value).__name__}")
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis and dataclasses.is_dataclass(args[0]):
        return tuple(from_dict(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    return tuple(value)


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain data (lists, str paths) that YAML and torch.load(weights_only=True) both accept."""

    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(obj))


def load_yaml(cls: type[T], path: str | Path, prepare: Callable[[Any], Any] | None = None) -> T:
    """A config dataclass from a YAML file; `prepare` may rewrite the parsed data first (shorthands)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReenactError(f"cannot read config ({exc.strerror or exc})", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReenactError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    try:
        return from_dict(cls, prepare(data) if prepare is not None else data)
    except (ReenactError, TypeError) as exc:
        raise ReenactError(str(exc), path) from None
