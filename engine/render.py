"""Rendering the animated face at the avatar's own resolution: one resampling of the original pixels per frame.

The motion is a smooth field (the head-first analytic warp, refined by the network's residual flow), so it is
computed small and upsampled as a *field*; the full-resolution avatar is then sampled once, inside the warped region
only. Cutting the face out at 256 px, warping it and scaling it back would resample twice (once a downscale for any
face larger than about 130 px) and lose skin texture, hair and eyelashes. What the network invents (new content,
at its own size) is blended on top where its mask says so, faded out towards the crop's edge; everywhere else the
detail is the avatar's own (the Bi-layer idea: Zakharov et al., ECCV 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from reenact.engine.background import BackgroundLayer
from reenact.engine.driver import Driving
from reenact.engine.extend import Margins, continued, margins_for
from reenact.engine.eyes import EyesLayer
from reenact.engine.face import CropBox
from reenact.engine.mesh import Box, Mesh, overwrite_map
from reenact.engine.mouth import MouthLayer
from reenact.engine.shading import ShadingLayer
from reenact.engine.warp import cell_centres, smoothstep

MESH_MARGIN = 0.25  # room around the face's points for the mouth's and eyes' mesh rings, in face extents


class FaceLayer(Protocol):
    """A part of the face with exact boundaries of its own (engine.mouth, engine.eyes): its meshes replace the map
    before the avatar is sampled, and it paints what lies behind it afterwards. Points are the target landmarks in avatar
    pixel index coordinates; `origin` is the region's top-left pixel."""

    def meshes(self, mapping: NDArray[np.float32], points: NDArray[np.float64], origin: NDArray) -> list[Mesh]: ...

    def paint(self, region: NDArray[np.uint8], points: NDArray[np.float64], origin: NDArray,
              driving: Driving | None) -> None: ...


def crop_feather(n: NDArray, feather: float) -> NDArray[np.float64]:
    """The crop's edge fade along one axis at normalised crop coordinates `n` ([-1, 1] across the crop): 1 inside,
    falling smoothly to 0 at the edge over `feather` of the crop's side."""
    return smoothstep(np.minimum(n + 1.0, 1.0 - n) / max(2.0 * feather, 1e-6))


@dataclass(frozen=True, slots=True)
class Region:
    """The avatar pixels the warp may change: a box around the face crop, clipped to the image."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


@dataclass(slots=True)
class FullResRenderer:
    """Per-avatar geometry between the face crop's normalised coordinates and the avatar's pixels. Built once."""

    image: NDArray[np.uint8]  # the full avatar, RGB
    low: NDArray[np.uint8]  # the avatar blurred, continued beyond its edges: sampled with bilinear interpolation
    high: NDArray[np.int16]  # avatar − low: its finest detail (none beyond its edges), sampled at the nearest pixel
    box: CropBox  # the face crop in avatar pixels
    extent: float  # the warped region's half-side, in normalised crop units
    region: Region
    crop_weight: NDArray[np.float32]  # the window's h×w: 1 inside the crop, feathered to 0 at its edge
    window: tuple[slice, slice]  # the part of the region the crop covers (network content exists only there)
    base: NDArray[np.float32]  # region h×w×2: each pixel's own avatar coordinates (the identity map)
    layers: tuple[FaceLayer, ...] = ()  # mouth and eyes, drawn with their own meshes
    feather: float = 0.12  # the crop feather's width, in crop sides
    background: BackgroundLayer | None = None  # the still background the moving person is laid over
    margins: Margins = Margins()  # how far `low` continues the avatar beyond its edges
    _matrices: dict[tuple[int, bool], NDArray[np.float64]] = field(default_factory=dict)
    _small_weights: dict[int, NDArray[np.float32]] = field(default_factory=dict)

    @classmethod
    def build(cls, image: NDArray[np.uint8], box: CropBox, extent: float, feather: float,
              detail_sigma: float = 1.2, landmarks: NDArray | None = None, shading: bool = True,
              background: bool = True) -> FullResRenderer:
        """`landmarks`: the avatar's, in its pixel index coordinates; with them the mouth and eyes are layers, with
        `shading` the driver's folds around the mouth are carried onto the avatar's skin (engine.shading), and with
        `background` the background stays still behind the moving person (engine.background)."""
        h, w = image.shape[:2]
        half = extent * box.side / 2
        region = Region(max(0, int(np.floor(box.cx - half))), max(0, int(np.floor(box.cy - half))),
                        min(w, int(np.ceil(box.cx + half))), min(h, int(np.ceil(box.cy + half))))
        xs = np.arange(region.x0, region.x1, dtype=np.float32)
        ys = np.arange(region.y0, region.y1, dtype=np.float32)
        base = np.stack(np.meshgrid(xs, ys), axis=-1)

        def ramp(idx: NDArray[np.float32], centre: float) -> NDArray[np.float64]:
            return crop_feather(((idx + 0.5) - (centre - box.side / 2)) * (2.0 / box.side) - 1.0, feather)

        wy, wx = ramp(ys, box.cy), ramp(xs, box.cx)
        rows, cols = np.flatnonzero(wy > 0), np.flatnonzero(wx > 0)
        window = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        weight = np.ascontiguousarray(np.outer(wy[window[0]], wx[window[1]]).astype(np.float32))
        low = cv2.GaussianBlur(image, (0, 0), detail_sigma) if detail_sigma > 0 else image
        high = image.astype(np.int16) - low
        # A portrait cut close to the face: where the head moves away from an edge, the map reaches beyond the
        # picture, by as much as the head moves (up to the warped region's half side; farther, the continuation's own
        # edge is repeated, already a blur). There the picture goes on smoothly, without detail (engine.extend).
        margins = margins_for((h, w), (box.cx - half, box.cy - half, box.cx + half, box.cy + half), half)
        low = continued(low, margins)
        layers: tuple[FaceLayer, ...] = ()
        still = None
        if landmarks is not None:  # the shading first: the mouth interior painted after it is the driver's own
            shade = (ShadingLayer(image, landmarks),) if shading else ()
            layers = (*shade, MouthLayer(image, landmarks), EyesLayer(image, landmarks))
            still = BackgroundLayer.build(image, landmarks, region.slices) if background else None
        return cls(image, low, high, box, extent, region, weight, window, base, layers, feather, still, margins)

    def person_support(self, n: int) -> NDArray[np.float32] | None:
        """The person's alpha at the n×n cell centres over the warped region (±extent in normalised crop units),
        where the head warp asks for it (engine.warp.HeadWarp); None without the still background."""
        if self.background is None:
            return None
        c = (cell_centres(n) * self.extent * self.box.side / 2).astype(np.float32)
        xs, ys = np.meshgrid(c + np.float32(self.box.cx - 0.5), c + np.float32(self.box.cy - 0.5))
        return self.background.moved(np.ascontiguousarray(np.stack([xs, ys], -1)))

    @property
    def origin(self) -> NDArray[np.float64]:
        return np.array([self.region.x0, self.region.y0], np.float64)

    def _to_field(self, cells: int, over_region: bool) -> NDArray[np.float64]:
        """2×3 affine from region pixel indices to the cell coordinates of a cells×cells field laid over the region
        (±extent) or over the crop (±1): what cv2.warpAffine needs to upsample that field (WARP_INVERSE_MAP)."""
        key = (cells, over_region)
        if key not in self._matrices:
            e = self.extent if over_region else 1.0
            a = cells / (e * self.box.side)  # field cells per avatar pixel
            left, top = self.box.cx - self.box.side / 2, self.box.cy - self.box.side / 2

            def offset(origin: int, start: float) -> float:
                n0 = (origin + 0.5 - start) * (2.0 / self.box.side) - 1.0
                return (n0 + e) / (2 * e) * cells - 0.5

            self._matrices[key] = np.array([[a, 0.0, offset(self.region.x0, left)],
                                            [0.0, a, offset(self.region.y0, top)]])
        return self._matrices[key]

    def upsample(self, values: NDArray[np.float32], over_region: bool, box: Box | None = None) -> NDArray[np.float32]:
        """A cell-centred field (F×F×C) bilinear at every pixel: of the region for a field over the region (±extent),
        or of `box` inside it; of the crop's window for a field over the crop (±1)."""
        m = self._to_field(values.shape[0], over_region).copy()
        if box is None and over_region:
            box = Box(0, 0, self.region.shape[1], self.region.shape[0])
        elif box is None:
            rows, cols = self.window
            box = Box(cols.start, rows.start, cols.stop, rows.stop)
        m[:, 2] += m[0, 0] * np.array([box.x0, box.y0])
        h, w = box.shape
        out = cv2.warpAffine(np.ascontiguousarray(values, dtype=np.float32), m, (w, h),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(h, w, -1)

    def moving(self, displacement: NDArray[np.float32], flow: NDArray[np.float32] | None,
               points: NDArray[np.float64] | None) -> Box | None:
        """The part of the region a frame may change (region pixel indices): where the upsampled `displacement`
        is not zero, the crop's window when the network adds its `flow`, and the face's target `points` with room
        for the mouth's and eyes' meshes. Elsewhere the map is the identity and the avatar's pixels stay as they
        are, so a head that moves little costs only the pixels it moves."""
        boxes = []
        cells = np.flatnonzero(np.abs(displacement).max(axis=(0, 2)) > 0), \
            np.flatnonzero(np.abs(displacement).max(axis=(1, 2)) > 0)
        if len(cells[0]):
            n = displacement.shape[0]
            m = self._to_field(n, True)

            def span(k: NDArray, offset: float, size: int) -> tuple[int, int]:
                # a pixel at cell coordinate c reads cells floor(c) and floor(c) + 1; the border cells reach on
                lo = 0 if k[0] == 0 else int(np.floor((k[0] - 1 - offset) / m[0, 0]))
                hi = size if k[-1] == n - 1 else int(np.ceil((k[-1] + 1 - offset) / m[0, 0])) + 1
                return max(0, lo), min(size, hi)

            h, w = self.region.shape
            (x0, x1), (y0, y1) = span(cells[0], m[0, 2], w), span(cells[1], m[1, 2], h)
            if x1 > x0 and y1 > y0:
                boxes.append(Box(x0, y0, x1, y1))
        if flow is not None:
            rows, cols = self.window
            boxes.append(Box(cols.start, rows.start, cols.stop, rows.stop))
        if points is not None and self.layers:
            local = np.asarray(points, np.float64)[:, :2] - self.origin
            around = Box.around(local, self.region.shape, MESH_MARGIN * float(np.ptp(local, axis=0).max()))
            if around is not None:
                boxes.append(around)
        if not boxes:
            return None
        return Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes),
                   max(b.x1 for b in boxes), max(b.y1 for b in boxes))

    def sample(self, displacement: NDArray[np.float32], flow: NDArray[np.float32] | None = None,
               points: NDArray[np.float64] | None = None) -> NDArray[np.uint8]:
        """The region warped backward by `displacement` (region field, normalised crop units) plus the network's
        residual `flow` (crop field, same units; faded out at the crop's edge), with the mouth and eyes meshed to
        the target `points`. Zero motion returns the avatar's pixels unchanged: a still driver costs no detail."""
        out = self.image[self.region.slices].copy()
        box = self.moving(displacement, flow, points)
        if box is None:
            return out
        to_px = self.box.side / 2.0  # normalised crop units → avatar pixels
        d = self.upsample(displacement * np.float32(to_px), over_region=True, box=box)
        if flow is not None:
            rows, cols = self.window
            inner = (slice(rows.start - box.y0, rows.stop - box.y0), slice(cols.start - box.x0, cols.stop - box.x0))
            d[inner] += self.crop_weight[..., None] * self.upsample(flow * np.float32(to_px), over_region=False)
        d += self.base[box.slices]
        if points is not None:
            origin = self.origin + [box.x0, box.y0]
            meshes = [m for layer in self.layers for m in layer.meshes(d, points, origin)]
            if meshes:  # read off the spline's map first (the rings), then written in one pass
                merged = Mesh.merge(meshes)
                overwrite_map(d, merged.dst, merged.src, merged.triangles)
        # Two layers: any interpolation between pixels averages away the finest detail (a half-pixel shift halves
        # the Laplacian variance of fine texture), so only the smooth layer is interpolated; the detail layer is
        # moved to the nearest pixel, at most half a pixel from where it belongs, with its contrast intact.
        high = cv2.remap(self.high, d, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        shift = (float(self.margins.left), float(self.margins.top), 0.0, 0.0)
        if self.margins.any:  # `low` begins `margins` before the avatar's own pixel (0, 0); cv2, not numpy: 10× faster
            cv2.add(d, shift, dst=d)
        low = cv2.remap(self.low, d, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.margins.any:
            cv2.subtract(d, shift, dst=d)
        part = out[box.slices]  # a view: what follows writes into the region in place
        cv2.add(low, high, dst=part, dtype=cv2.CV_8U)  # saturating: no int16 image in between
        if self.background is not None:
            del low, high  # a large photo's region: each of its per-pixel arrays is freed once used
            self.background.keep(part, d, self.base[box.slices], box.slices)
        return out

    def _shows(self, mask: NDArray[np.float32]) -> bool:
        """Whether the network's generated content would change any pixel (a share of at least 1/255 inside the
        feathered crop): a trained blend mostly keeps the warped avatar, and then blending is wasted work."""
        n = mask.shape[0]
        if n not in self._small_weights:
            ramp = crop_feather(cell_centres(n), self.feather)
            self._small_weights[n] = np.outer(ramp, ramp).astype(np.float32)
        return float(((1.0 - mask) * self._small_weights[n]).max()) >= 1.0 / 255.0

    def compose(self, warped: NDArray[np.uint8], generated: NDArray[np.float32] | None = None,
                mask: NDArray[np.float32] | None = None, points: NDArray[np.float64] | None = None,
                driving: Driving | None = None) -> NDArray[np.uint8]:
        """The full avatar with the warped region in place; where the network's `mask` (crop-sized, 1 = the warped
        avatar) falls below 1, its `generated` RGB (crop-sized H×W×3 in [0, 1]) shows instead; then what lies
        behind the lids and lips at the target `points` (the driver's mouth interior, the eyeballs)."""
        r = self.region
        if generated is not None and mask is not None and self._shows(mask):
            up = self.upsample(np.concatenate([generated, mask[..., None]], axis=2), over_region=False)
            new = self.crop_weight * (1.0 - up[..., 3])  # the generated share, 0 outside the crop
            rgb = cv2.convertScaleAbs(up[..., :3], alpha=255.0)  # rounded and saturated to uint8 in one pass
            part = warped[self.window]
            warped[self.window] = cv2.blendLinear(rgb, np.ascontiguousarray(part), new, 1.0 - new)
        if points is not None:
            for layer in self.layers:
                layer.paint(warped, points, self.origin, driving)
        out = self.image.copy()
        out[r.slices] = warped
        return out
