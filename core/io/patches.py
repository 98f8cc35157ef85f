"""Vectorised patch extraction and the block iterator with a halo.

Border rule: the normalised raster is padded by PATCH_SIZE//2 with *reflect* (``np.pad``
mode ``reflect``) at the raster edges; invalid pixels inside a patch are already 0 (the band
median) after normalisation. Block-wise processing pads the same way, so a pixel's patch is
identical whether it is cut from the whole raster or from a block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


def check_patch_size(patch_size: int):
    if patch_size < 3 or patch_size % 2 == 0:
        raise InputError(f"PATCH_SIZE must be an odd number of pixels, 3 or more (got {patch_size}).")


def pad_reflect(data: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """(bands, h, w) → padded with reflect at the given sides."""
    if max(top, bottom) >= data.shape[1] or max(left, right) >= data.shape[2]:
        raise InputError(f"The raster window ({data.shape[1]} × {data.shape[2]} px) is too small "
                         f"for the patch halo of {max(top, bottom, left, right)} px; use a smaller "
                         "PATCH_SIZE or a larger area.")
    return np.pad(data, ((0, 0), (top, bottom), (left, right)), mode="reflect")


def to_pixel_major(padded: np.ndarray) -> np.ndarray:
    """(bands, H, W) → contiguous (H, W, bands) so that a patch gather copies one slab per pixel."""
    return np.ascontiguousarray(np.moveaxis(padded, 0, -1))


def extract_patches(pixel_major: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    patch_size: int) -> np.ndarray:
    """Patches centred on (rows, cols) of the *unpadded* raster, from its padded pixel-major
    array (H+2h, W+2h, bands) → float32 (N, bands, P, P). One fancy-index gather, no Python
    loop per sample."""
    windows = np.lib.stride_tricks.sliding_window_view(pixel_major, (patch_size, patch_size), axis=(0, 1))
    # windows[r, c] is the (bands, P, P) patch whose top-left is padded (r, c) = centre (r, c).
    return np.ascontiguousarray(windows[np.asarray(rows), np.asarray(cols)])


@dataclass(frozen=True)
class Block:
    """A block of the grid: its core window, and the halo window actually read around it."""

    row0: int
    col0: int
    rows: int
    cols: int
    read_row0: int
    read_col0: int
    read_rows: int
    read_cols: int
    pad_top: int      # reflect padding needed where the halo leaves the raster
    pad_bottom: int
    pad_left: int
    pad_right: int

    @property
    def read_window(self) -> tuple:
        return (self.read_row0, self.read_col0, self.read_rows, self.read_cols)


def iter_blocks(height: int, width: int, block_size: int, halo: int):
    """Blocks of at most ``block_size``² core pixels covering the grid, each with its halo."""
    for row0 in range(0, height, block_size):
        rows = min(block_size, height - row0)
        for col0 in range(0, width, block_size):
            cols = min(block_size, width - col0)
            r0, r1 = max(0, row0 - halo), min(height, row0 + rows + halo)
            c0, c1 = max(0, col0 - halo), min(width, col0 + cols + halo)
            yield Block(row0, col0, rows, cols, r0, c0, r1 - r0, c1 - c0,
                        halo - (row0 - r0), halo - (r1 - row0 - rows),
                        halo - (col0 - c0), halo - (c1 - col0 - cols))


def sample_valid_pixels(valid: np.ndarray, count: int, rng: np.random.Generator):
    """``count`` random valid pixel centres (with replacement only if fewer exist) → rows, cols."""
    flat = np.flatnonzero(valid.ravel())
    if flat.size == 0:
        raise InputError("There is no valid pixel to sample.")
    pick = rng.choice(flat, size=count, replace=count > flat.size)
    return np.divmod(pick, valid.shape[1])
