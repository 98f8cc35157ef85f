"""Open and prepare the modalities for a run, and check them against a saved model.

A model remembers, per modality, its slot, source band count, kept bands and normalisation
statistics; later runs reuse exactly those so that training and prediction see identical inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .raster import AlignedStack, NormStats, read_normalised, scan, valid_mask


@dataclass
class GridOptions:
    reference_slot: str | None = None
    resolution: float | None = None
    resampling: str = "bilinear"

    def to_dict(self) -> dict:
        return {"reference_slot": self.reference_slot, "resolution": self.resolution,
                "resampling": self.resampling}

    @classmethod
    def from_dict(cls, d: dict) -> "GridOptions":
        return cls(d.get("reference_slot"), d.get("resolution"), d.get("resampling", "bilinear"))


@dataclass
class PreparedInputs:
    stack: AlignedStack
    stats: list
    options: GridOptions
    valid: np.ndarray | None = None  # valid pixels of the whole grid, when a scan computed them

    def describe(self) -> list:
        """Plain description of each modality for a checkpoint."""
        return [dict(info.to_dict(), normalisation=s.to_dict())
                for info, s in zip(self.stack.infos, self.stats)]

    def grid_dict(self) -> dict:
        """The reference grid (CRS, transform, size, pixel size) and the options that built it."""
        return dict(self.stack.grid.to_dict(), pixel_size=list(self.stack.grid.resolution),
                    **self.options.to_dict())

    def read(self, window=None):
        return read_normalised(self.stack, self.stats, window)

    def valid_mask(self) -> np.ndarray:
        """Valid pixels of the whole grid (1 byte per pixel): from the scan, or read strip-wise."""
        if self.valid is None:
            self.valid = valid_mask(self.stack)
        return self.valid

    def close(self):
        self.stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prepare(modalities: list, options: GridOptions, rng_seed: int = 0) -> PreparedInputs:
    """Align the modalities, drop empty bands and compute normalisation statistics."""
    stack = AlignedStack.open(modalities, options.reference_slot, options.resolution, options.resampling)
    try:
        valid = np.zeros((stack.grid.height, stack.grid.width), dtype=bool)
        stats, _ = scan(stack, rng=np.random.default_rng(rng_seed), mask=valid)
    except Exception:
        stack.close()
        raise
    return PreparedInputs(stack, stats, options, valid)


def prepare_like(modalities: list, saved: list, options: GridOptions, model_name: str) -> PreparedInputs:
    """Align the modalities for a saved model: same slots and band counts, the model's kept
    bands and normalisation. ``saved`` is the model's ``modalities`` metadata."""
    check_compatible(modalities, saved, model_name)
    stack = AlignedStack.open(modalities, options.reference_slot, options.resolution, options.resampling)
    try:
        for info, stored in zip(stack.infos, saved):
            if info.band_count != stored["band_count"]:
                raise InputError(
                    f"The {info.slot} raster '{info.source}' has {_bands(info.band_count)} but the "
                    f"{model_name} was trained with {_bands(stored['band_count'])} in that slot. Give "
                    "the same sensor's bands in the same order, or train a new model.")
            info.kept_bands = list(stored["kept_bands"])
            info.dropped_bands = list(stored["dropped_bands"])
    except Exception:
        stack.close()
        raise
    stats = [NormStats.from_dict(stored["normalisation"]) for stored in saved]
    return PreparedInputs(stack, stats, options)


def _bands(count: int) -> str:
    return f"{count} band" + ("" if count == 1 else "s")


def check_compatible(modalities: list, saved: list, model_name: str):
    given = [m.slot for m in modalities]
    expected = [m["slot"] for m in saved]
    if given != expected:
        raise InputError(
            f"The {model_name} was trained with the modalities {', '.join(expected)} but this run "
            f"has {', '.join(given) or 'none'}. Give the same rasters in the same slots "
            "(e.g. the same sensor in HYPERSPECTRAL) as when the model was trained.")
