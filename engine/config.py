"""Typed settings for every stage, loadable from YAML, so no dict of strings travels through the code."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reenact.engine.errors import ReenactError, require_file

T = TypeVar("T")


def setting(default: Any, **limits: Any) -> Any:
    """A field whose limits `from_dict` enforces, so a range sits beside its default and a config file that breaks
    it is refused with the key named. Limits: min / max (inclusive), above (exclusive), below (exclusive),
    multiple_of, length (of a tuple; the other limits then apply to each item), choices."""
    return field(default=default, metadata=limits)


@dataclass(frozen=True, slots=True)
class OneEuroConfig:
    """One-euro filter: low jitter when still, low lag when moving. min_cutoff lower = smoother."""

    min_cutoff: float = setting(1.0, above=0)
    beta: float = setting(0.05, min=0)
    d_cutoff: float = setting(1.0, above=0)
    enabled: bool = True
    # The lids', lips' and irises' points are filtered with this many times min_cutoff, d_cutoff and beta: a blink
    # lasts 100–150 ms, and at the head's settings the filter took away half its depth and kept the lids shut a
    # frame after the driver's had opened (the motion's dead zone, not the filter, keeps their jitter off a still
    # face).
    openings_speedup: float = setting(4.0, min=1)


@dataclass(frozen=True, slots=True)
class CropConfig:
    """Square crop around the face: side = scale × landmark extent, centre moved up by offset × side."""

    size: int = setting(256, min=16)
    scale: float = setting(1.9, above=0)
    offset: float = 0.06


@dataclass(frozen=True, slots=True)
class FaceConfig:
    crop: CropConfig = field(default_factory=CropConfig)
    smoothing: OneEuroConfig = field(default_factory=OneEuroConfig)
    min_detection_confidence: float = setting(0.5, min=0, max=1)
    min_tracking_confidence: float = setting(0.5, min=0, max=1)
    max_faces: int = setting(4, min=1)


@dataclass(frozen=True, slots=True)
class MotionConfig:
    """relative: the avatar keeps its face shape and takes the driving face's change from a reference frame."""

    mode: str = setting("relative", choices=("relative", "absolute"))
    expression_gain: float = setting(1.0, min=0)
    rotation: bool = True
    translation_gain: float = setting(1.0, min=0)
    # Landmark jitter of a still face, as a share of the face's size: motion below it is dropped, motion above it
    # shrunk by it, so a driver who holds still leaves the avatar exactly as it is.
    dead_zone: float = setting(0.006, min=0, max=0.1)
    # Mouth and lids open as far as the driver's (not by his change), the irises follow his gaze (engine.expression).
    openings: bool = True

    def __post_init__(self) -> None:  # also when built in code (the app switches modes at run time)
        problem = setting_problem(MotionConfig, "mode", self.mode)
        if problem:
            raise ReenactError(f"motion mode {problem}")


@dataclass(frozen=True, slots=True)
class WarpConfig:
    """Thin-plate-spline warp from landmarks, solved on a coarse grid and upsampled (cheap, smooth)."""

    grid_size: int = setting(64, min=2)
    regularization: float = setting(0.01, min=0)  # smooths the spline: no fold-over when a turning head moves points past each other
    border_points: int = setting(8, min=0)  # per side
    # Head-first motion: the rigid part (turn, tilt, scale, shift) moves the whole head, hair and outline included,
    # before the spline adds the expression; background beyond the head's soft outline stays where it is.
    region_scale: float = setting(1.6, min=1)  # the warped region's side, in face-crop sides
    head_scale: float = setting(1.35, above=0)  # the head outline: the face oval's ellipse times this
    head_lift: float = setting(0.12, min=0, max=1)  # outline centre raised by this share of the face height (hair)
    head_falloff: float = setting(0.8, above=0)  # soft edge of the outline, in outline radii
    hair_reach: float = setting(0.04, min=0)  # the segmented head grown by this (crop units): its soft edge moves whole
    max_rotation_deg: float = setting(30.0, min=0, max=90)  # larger tilts are clamped (and said so)
    max_scale: float = setting(1.35, min=1)  # head scale change clamped to [1/this, this]
    max_shift: float = setting(0.35, min=0)  # head shift clamped to this share of the face crop's side


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the networks. Stored inside every checkpoint, so weights always come with their architecture."""

    size: int = setting(256, min=64, multiple_of=8)  # three stride-2 stages must divide it exactly
    encoder_channels: tuple[int, ...] = setting((16, 32, 64), length=3, min=1)
    frame_channels: int = setting(32, min=1)
    keypoints: int = setting(0, min=0)  # filled from engine.landmarks at build time when 0
    expression_dim: int = setting(32, min=1)
    # False: the frame network only refines the motion (a residual flow on the analytic grid); there is no
    # occlusion decoder, generated RGB or blend mask, and the warped avatar is the crop everywhere. A trained
    # blend that never shows what the generator draws costs the decoder's time every frame for no pixel.
    generator: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_channels", tuple(self.encoder_channels))


@dataclass(frozen=True, slots=True)
class PasteConfig:
    feather: float = setting(0.12, min=0, max=0.5)  # fraction of the crop side over which new content fades out
    detail_sigma: float = setting(1.2, min=0)  # the finest detail (avatar − its blur at this σ) moves unblurred
    enabled: bool = True
    shading: bool = True  # the driver's folds around the mouth carried onto the avatar's skin (engine.shading)
    background: bool = True  # the background stays still behind the moving person (engine.background)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    face: FaceConfig = field(default_factory=FaceConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    paste: PasteConfig = field(default_factory=PasteConfig)


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build a (nested) dataclass from plain data, checking every value against its type and limits and refusing
    unknown keys, so a typo or a wrong value is one line naming the key instead of a crash far from the file."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ReenactError(f"{where} must be a mapping, got {_shown(data)}" if where else
                           f"expected settings as `key: value` lines, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ReenactError(f"{where or cls.__name__}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}")
    missing = [n for n, f in fields.items() if n not in data and _required(f)]
    if missing:
        raise ReenactError(f"{where or cls.__name__}: missing setting(s) {', '.join(missing)}")
    kwargs = {name: _value(hints[name], value, _key(where, name), fields[name].metadata)
              for name, value in data.items()}
    return cls(**kwargs)


def setting_problem(cls: type, name: str, value: Any) -> str | None:
    """What is wrong with `value` for the setting `cls.name` ("must be ≥ 64, got 17"), or None: lets a command-line
    option that feeds a setting share its limits."""
    field_ = next(f for f in dataclasses.fields(cls) if f.name == name)
    try:
        _value(typing.get_type_hints(cls)[name], value, "", field_.metadata)
    except ReenactError as exc:
        return str(exc).strip()
    return None


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _value(hint: Any, value: Any, where: str, limits: typing.Mapping[str, Any]) -> Any:
    """`value` as `hint` says (an `int | None`, a tuple, a nested dataclass, ...), within `limits`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _value(inner, value, where, limits)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        return _tuple(hint, value, where, limits)
    value = _scalar(hint, value, where)
    problem = _limit_problem(value, limits)
    if problem:
        raise ReenactError(f"{where} {problem}")
    return value


# YAML 1.1 reads 2e-4 (no dot) as text; a number is what anyone writing it means.
_EXPONENT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def _scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ReenactError(f"{where} must be true or false, got {_shown(value)}")
    elif hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ReenactError(f"{where} must be a whole number, got {_shown(value)}")
    elif hint is float:
        if isinstance(value, str) and _EXPONENT.fullmatch(value):
            value = float(value)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ReenactError(f"{where} must be a number, got {_shown(value)}")
        return float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise ReenactError(f"{where} must be text, got {_shown(value)}")
    elif hint is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise ReenactError(f"{where} must be a path, got {_shown(value)}")
        return Path(value)
    return value


def _limit_problem(value: Any, limits: typing.Mapping[str, Any]) -> str | None:
    checks = (
        ("choices", lambda c: value in c, lambda c: f"must be one of {', '.join(map(str, c))}"),
        ("min", lambda m: value >= m, lambda m: f"must be ≥ {m}"),
        ("above", lambda m: value > m, lambda m: f"must be > {m}"),
        ("max", lambda m: value <= m, lambda m: f"must be ≤ {m}"),
        ("below", lambda m: value < m, lambda m: f"must be < {m}"),
        ("multiple_of", lambda m: value % m == 0, lambda m: f"must be a multiple of {m}"),
    )
    for key, ok, says in checks:
        if key in limits and not ok(limits[key]):
            return f"{says(limits[key])}, got {_shown(value)}"
    return None


def _tuple(hint: Any, value: Any, where: str, limits: typing.Mapping[str, Any]) -> tuple:
    """A tuple field from a list: `tuple[X, ...]` of any length (or the field's `length`), `tuple[X, Y]` of two;
    each item is checked like a field of its own type (dataclass items are built like any nested dataclass)."""
    args = typing.get_args(hint)
    variable = len(args) == 2 and args[1] is Ellipsis
    if value is None and variable and "length" not in limits:
        return ()
    if not isinstance(value, list | tuple):
        raise ReenactError(f"{where} must be a list, got {_shown(value)}")
    items = [args[0]] * len(value) if variable else list(args)
    length = limits.get("length", len(items))
    if len(value) != length or len(items) != length:
        raise ReenactError(f"{where} must be a list of {length} items, got {len(value)}")
    item_limits = {k: v for k, v in limits.items() if k != "length"}
    return tuple(_value(h, item, f"{where}[{i}]", item_limits) for i, (h, item) in enumerate(zip(items, value, strict=True)))


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
    path = require_file(path, "config")
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
