"""Align N raster modalities on one reference grid and normalise them.

Rules (the same for training and prediction, so both see identical inputs):

* Reference grid: the grid of the first modality (or of ``reference_slot``), optionally with an
  explicit pixel size; its extent is the intersection of all modalities (error when empty).
  Other modalities are warped onto it by GDAL (rasterio ``WarpedVRT``), bilinear by default.
* A modality *has data* at a pixel when at least one of its bands is finite and not nodata.
  A pixel is *valid* when every modality has data there.
* A band with no valid value anywhere on the grid is dropped and reported (e.g. the water
  vapour bands of a hyperspectral sensor).
* Normalisation: per band ``(x - median) / robust_std`` with ``robust_std = IQR / 1.349`` from
  valid pixels, clipped to ``±CLIP``. A gap in only some bands of a valid pixel (cloud mask
  on one date, a saturated band) is filled with 0 *after* normalisation, i.e. with the band
  median. Invalid pixels are 0 in every band. NaN never leaves this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..errors import InputError

RESAMPLING_METHODS = {
    "bilinear": Resampling.bilinear,
    "nearest": Resampling.nearest,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
}
CLIP = 10.0
STATS_SAMPLE = 200_000


@dataclass(frozen=True)
class ModalityInput:
    """One sensor: the slot it fills (e.g. ``HYPERSPECTRAL``) and a GDAL-readable source."""

    slot: str
    source: str


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS (WKT), affine transform (a, b, c, d, e, f) and size."""

    crs_wkt: str
    transform: tuple
    width: int
    height: int

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    @property
    def resolution(self) -> tuple:
        return (abs(self.transform[0]), abs(self.transform[4]))

    @property
    def bounds(self) -> tuple:
        a, _, c, _, e, f = self.transform[:6]
        xs = (c, c + a * self.width)
        ys = (f, f + e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    def to_dict(self) -> dict:
        return {"crs_wkt": self.crs_wkt, "transform": list(self.transform[:6]),
                "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> "Grid":
        return cls(d["crs_wkt"], tuple(d["transform"]), int(d["width"]), int(d["height"]))


def apply_affine(affine, x, y) -> tuple:
    """``affine`` applied to the point (x, y): what ``affine * (x, y)`` gives, without that
    operator, which newer ``affine`` releases deprecate for ``@`` (older ones lack ``@``)."""
    a, b, c, d, e, f = tuple(affine)[:6]
    return a * x + b * y + c, d * x + e * y + f


@dataclass
class ModalityInfo:
    slot: str
    source: str
    band_count: int               # bands in the source
    band_names: list              # names of all source bands
    nodata: float | None
    kept_bands: list = field(default_factory=list)     # 1-based source band numbers kept
    dropped_bands: list = field(default_factory=list)  # 1-based, all-nodata on the grid

    @property
    def kept_band_names(self) -> list:
        return [self.band_names[b - 1] for b in self.kept_bands]

    def to_dict(self) -> dict:
        return {"slot": self.slot, "source": self.source, "band_count": self.band_count,
                "band_names": list(self.band_names), "nodata": self.nodata,
                "kept_bands": list(self.kept_bands), "dropped_bands": list(self.dropped_bands)}


@dataclass
class NormStats:
    """Per kept band: centre (median) and scale (robust std) of one modality."""

    center: list
    scale: list

    def to_dict(self) -> dict:
        return {"center": [float(v) for v in self.center], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_dict(cls, d: dict) -> "NormStats":
        return cls(list(d["center"]), list(d["scale"]))


def _band_names(src) -> list:
    names = []
    for i in range(1, src.count + 1):
        description = src.descriptions[i - 1] if src.descriptions else None
        names.append(description or f"band {i}")
    return names


def _open(source: str, slot: str):
    try:
        return rasterio.open(source)
    except Exception as exc:  # rasterio raises several types; the analyst needs one sentence
        raise InputError(f"The {slot} raster '{source}' could not be opened ({exc}). "
                         "Check that the file exists and is a raster GDAL can read.") from exc


def _is_north_up(transform: Affine) -> bool:
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0


def build_reference_grid(modalities: list, reference_slot: str | None = None,
                         resolution: float | None = None) -> Grid:
    """The reference grid: the reference modality's pixels over the common extent of all."""
    if not modalities:
        raise InputError("No raster modality was given. Set at least one of the raster inputs.")
    slots = [m.slot for m in modalities]
    if reference_slot and reference_slot not in slots:
        raise InputError(f"The reference grid '{reference_slot}' is not one of the given "
                         f"modalities ({', '.join(slots)}). Choose a slot that has a raster.")
    reference = modalities[slots.index(reference_slot)] if reference_slot else modalities[0]
    with _open(reference.source, reference.slot) as ref:
        if ref.crs is None:
            raise InputError(f"The {reference.slot} raster '{reference.source}' has no coordinate "
                             "reference system. Assign one (Raster ▸ Projections ▸ Assign "
                             "Projection) and try again.")
        if not _is_north_up(ref.transform):
            raise InputError(f"The {reference.slot} raster is rotated or not north-up; warp it to a "
                             "north-up grid first (gdalwarp) or choose another reference grid.")
        ref_crs, ref_transform = ref.crs, ref.transform
        xmin, ymin, xmax, ymax = ref.bounds
    for m in modalities:
        with _open(m.source, m.slot) as src:
            if src.crs is None:
                raise InputError(f"The {m.slot} raster '{m.source}' has no coordinate reference "
                                 "system. Assign one and try again.")
            b = transform_bounds(src.crs, ref_crs, *src.bounds, densify_pts=21)
        xmin, ymin, xmax, ymax = max(xmin, b[0]), max(ymin, b[1]), min(xmax, b[2]), min(ymax, b[3])
    if xmin >= xmax or ymin >= ymax:
        raise InputError("The rasters do not overlap: their common extent is empty ("
                         + ", ".join(slots) + "). Check that they cover the same area and that "
                         "each has the right coordinate reference system.")
    if resolution:
        res_x = res_y = float(resolution)
        origin_x, origin_y = xmin, ymax
        width = max(1, int(math.floor((xmax - xmin) / res_x + 1e-6)))
        height = max(1, int(math.floor((ymax - ymin) / res_y + 1e-6)))
    else:
        # Snap the common extent inwards to the reference modality's own pixels.
        res_x, res_y = ref_transform.a, -ref_transform.e
        col0 = math.ceil((xmin - ref_transform.c) / res_x - 1e-6)
        col1 = math.floor((xmax - ref_transform.c) / res_x + 1e-6)
        row0 = math.ceil((ref_transform.f - ymax) / res_y - 1e-6)
        row1 = math.floor((ref_transform.f - ymin) / res_y + 1e-6)
        width, height = col1 - col0, row1 - row0
        origin_x = ref_transform.c + col0 * res_x
        origin_y = ref_transform.f - row0 * res_y
    if width < 1 or height < 1:
        raise InputError("The common extent of the rasters is smaller than one pixel of the "
                         "reference grid. Check the inputs' extents.")
    transform = (res_x, 0.0, origin_x, 0.0, -res_y, origin_y)
    return Grid(ref_crs.to_wkt(), transform, int(width), int(height))


class AlignedStack:
    """N modalities read on one grid. ``read(i, window)`` returns float32 with NaN for no data."""

    def __init__(self, modalities: list, grid: Grid, resampling: str = "bilinear"):
        if resampling not in RESAMPLING_METHODS:
            raise InputError(f"Unknown resampling '{resampling}'; use one of "
                             f"{', '.join(RESAMPLING_METHODS)}.")
        self.grid = grid
        self.resampling = resampling
        self.infos: list[ModalityInfo] = []
        self._datasets = []
        self._readers = []
        for m in modalities:
            src = _open(m.source, m.slot)
            self._datasets.append(src)
            self.infos.append(ModalityInfo(m.slot, m.source, src.count, _band_names(src),
                                           None if src.nodata is None else float(src.nodata),
                                           kept_bands=list(range(1, src.count + 1))))
            self._readers.append(self._make_reader(src))

    @classmethod
    def open(cls, modalities: list, reference_slot: str | None = None,
             resolution: float | None = None, resampling: str = "bilinear") -> "AlignedStack":
        return cls(modalities, build_reference_grid(modalities, reference_slot, resolution), resampling)

    def _make_reader(self, src):
        grid = self.grid
        t = src.transform
        g = grid.affine
        same_crs = src.crs is not None and src.crs.to_wkt() == grid.crs_wkt
        if same_crs and _is_north_up(t) and math.isclose(t.a, g.a) and math.isclose(t.e, g.e):
            col_off = (g.c - t.c) / t.a
            row_off = (g.f - t.f) / t.e
            if abs(col_off - round(col_off)) < 1e-6 and abs(row_off - round(row_off)) < 1e-6:
                # Same pixels: read them directly, no resampling at all.
                return ("direct", int(round(row_off)), int(round(col_off)))
        vrt = WarpedVRT(src, crs=grid.crs_wkt, transform=grid.affine, width=grid.width,
                        height=grid.height, resampling=RESAMPLING_METHODS[self.resampling],
                        src_nodata=src.nodata, nodata=np.nan, dtype="float32")
        self._datasets.append(vrt)
        return ("warped", vrt)

    @property
    def band_counts(self) -> list:
        return [len(info.kept_bands) for info in self.infos]

    def read(self, index: int, window: tuple | None = None, bands: list | None = None) -> np.ndarray:
        """Bands (1-based, default: kept bands) of modality ``index`` over ``window``
        = (row0, col0, rows, cols) of the grid; float32, NaN where there is no data."""
        row0, col0, rows, cols = window or (0, 0, self.grid.height, self.grid.width)
        bands = list(bands or self.infos[index].kept_bands)
        reader = self._readers[index]
        src = self._datasets[index]
        if reader[0] == "direct":
            _, r_off, c_off = reader
            data = src.read(bands, window=Window(col0 + c_off, row0 + r_off, cols, rows),
                            out_dtype="float32")
            nodata = src.nodata
        else:
            data = reader[1].read(bands, window=Window(col0, row0, cols, rows))
            nodata = None  # the warped VRT already wrote NaN for no data
        data = data.astype(np.float32, copy=False)
        if nodata is not None and not math.isnan(nodata):
            data[data == np.float32(nodata)] = np.nan
        data[~np.isfinite(data)] = np.nan
        return data

    def close(self):
        for ds in reversed(self._datasets):
            ds.close()
        self._datasets = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def modality_has_data(data: np.ndarray) -> np.ndarray:
    """(bands, h, w) with NaN for no data → bool (h, w): any band has a value."""
    return np.isfinite(data).any(axis=0)


def strip_rows(width: int, bands: int, memory_mb: float) -> int:
    """Rows of a full-width float32 strip of ``bands`` bands that fit ``memory_mb`` (1..512)."""
    return int(max(1, min(512, memory_mb * 1024 * 1024 // max(4 * width * bands, 1))))


def valid_mask(stack: AlignedStack, memory_mb: float = 128) -> np.ndarray:
    """Valid pixels of the whole grid (any kept band has data in every modality), read in
    strips that fit ``memory_mb``; the kept bands must already be known (no scan needed)."""
    grid = stack.grid
    mask = np.zeros((grid.height, grid.width), dtype=bool)
    rows = strip_rows(grid.width, sum(stack.band_counts), memory_mb)
    for row0 in range(0, grid.height, rows):
        window = (row0, 0, min(rows, grid.height - row0), grid.width)
        mask[row0:row0 + window[2]] = np.logical_and.reduce(
            [modality_has_data(stack.read(i, window)) for i in range(len(stack.infos))])
    return mask


def scan(stack: AlignedStack, block_rows: int | None = None, rng: np.random.Generator | None = None,
         mask: np.ndarray | None = None, memory_mb: float = 128):
    """One pass over the grid: drop all-nodata bands, count valid pixels and compute
    per-band normalisation statistics from (a random sample of) valid pixels.

    Reads full-width strips of ``block_rows`` rows (default: as many as fit ``memory_mb``).
    Fills ``mask`` (bool, grid shape), when given, with the valid pixels.
    Updates ``stack.infos[i].kept_bands`` / ``dropped_bands``; returns (stats list, n_valid)."""
    rng = rng or np.random.default_rng(0)
    grid = stack.grid
    n_mod = len(stack.infos)
    if block_rows is None:
        block_rows = strip_rows(grid.width, sum(info.band_count for info in stack.infos), memory_mb)
    seen = [np.zeros(info.band_count, dtype=bool) for info in stack.infos]
    has_data = [False] * n_mod
    samples = [[] for _ in range(n_mod)]
    n_valid = 0
    total = grid.width * grid.height
    keep_fraction = min(1.0, STATS_SAMPLE / max(total, 1))
    for row0 in range(0, grid.height, block_rows):
        rows = min(block_rows, grid.height - row0)
        window = (row0, 0, rows, grid.width)
        blocks = [stack.read(i, window, bands=list(range(1, info.band_count + 1)))
                  for i, info in enumerate(stack.infos)]
        valid = np.ones((rows, grid.width), dtype=bool)
        for i, data in enumerate(blocks):
            here = modality_has_data(data)
            has_data[i] = has_data[i] or bool(here.any())
            valid &= here
        n_valid += int(valid.sum())
        if mask is not None:
            mask[row0:row0 + rows] = valid
        pick = valid & (rng.random(valid.shape) < keep_fraction)
        for i, data in enumerate(blocks):
            seen[i] |= np.isfinite(data[:, valid]).any(axis=1)
            samples[i].append(data[:, pick].T)
    empty = [info for info, found in zip(stack.infos, has_data) if not found]
    if empty:
        info = empty[0]
        raise InputError(f"No pixel has data in every modality: the {info.slot} raster "
                         f"'{info.source}' has no valid pixel in the rasters' common extent (every "
                         f"value is nodata{'' if info.nodata is None else f' ({info.nodata:g})'} or "
                         "NaN). Check that the right file is in that slot and that its nodata value "
                         "is correct.")
    if n_valid == 0:
        raise InputError("No pixel has data in every modality ("
                         + ", ".join(f"{i.slot}" for i in stack.infos)
                         + "). Check nodata values and that the rasters overlap where they have data.")
    stats = []
    for i, info in enumerate(stack.infos):
        info.kept_bands = [b + 1 for b in range(info.band_count) if seen[i][b]]
        info.dropped_bands = [b + 1 for b in range(info.band_count) if not seen[i][b]]
        values = np.concatenate(samples[i], axis=0)[:, np.array(info.kept_bands) - 1]
        stats.append(robust_statistics(values))
    return stats, n_valid


def robust_statistics(values: np.ndarray) -> NormStats:
    """values (n_pixels, bands) with NaN gaps → per-band median and IQR/1.349."""
    with np.errstate(all="ignore"):
        q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
        scale = (q75 - q25) / 1.349
        fallback = np.nanstd(values, axis=0)
    scale = np.where(scale > 1e-12, scale, np.where(fallback > 1e-12, fallback, 1.0))
    median = np.nan_to_num(median)
    return NormStats(median.astype(float).tolist(), scale.astype(float).tolist())


def normalise(data: np.ndarray, stats: NormStats, valid: np.ndarray) -> np.ndarray:
    """Robust z-score per band, clipped; gaps and invalid pixels → 0 (the band median)."""
    center = np.asarray(stats.center, dtype=np.float32)[:, None, None]
    scale = np.asarray(stats.scale, dtype=np.float32)[:, None, None]
    out = (data - center) / scale
    np.clip(out, -CLIP, CLIP, out=out)
    out[~np.isfinite(out)] = 0.0
    out[:, ~valid] = 0.0
    return out


def read_normalised(stack: AlignedStack, stats: list, window: tuple | None = None):
    """All modalities over ``window`` → (list of normalised float32 (bands, h, w), valid mask)."""
    raw = [stack.read(i, window) for i in range(len(stack.infos))]
    valid = np.ones(raw[0].shape[1:], dtype=bool)
    for data in raw:
        valid &= modality_has_data(data)
    return [normalise(d, s, valid) for d, s in zip(raw, stats)], valid
