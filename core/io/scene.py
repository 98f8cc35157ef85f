"""Training inputs within a memory budget, whatever the scene size.

A scene whose normalised bands fit the budget is read once, whole (fastest). A larger one is
never read whole:

* labelled pixels: only the blocks that hold labels are read (with their PATCH_SIZE//2 halo)
  and each label's patch is kept (:class:`PatchBank`);
* pretraining: each epoch reads a pool of random tiles that fits the budget and trains on crops
  from it (:class:`TilePool`). Every tile is read with its halo, so each pixel centre sees its
  true patch, exactly as in the whole-scene path (same reflect rule at the raster edges).

The valid mask (1 byte per pixel, from the preparation scan) is the only full-size array.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .patches import extract_patches, iter_blocks, pad_reflect, to_pixel_major

DEFAULT_TRAINING_MEMORY_MB = 2048
# Bytes per band value while training from memory: the normalised float32 array, its padded
# pixel-major copy and the raw float32 read it came from.
BYTES_PER_VALUE = 12
# Reading a block for patches holds the raw read, the normalised, padded and pixel-major copies.
BLOCK_BYTES_PER_VALUE = 24
TILE = 256


def training_bytes(prepared) -> int:
    """Memory needed to train from the whole scene held in memory."""
    grid = prepared.stack.grid
    bands = sum(prepared.stack.band_counts)
    return grid.width * grid.height * bands * BYTES_PER_VALUE


def fits_in_memory(prepared, memory_mb: float) -> bool:
    return training_bytes(prepared) <= memory_mb * 1024 * 1024


def _block_side(prepared, memory_mb: float, patch_size: int) -> int:
    bands = sum(prepared.stack.band_counts)
    side = int(math.sqrt(memory_mb * 1024 * 1024 / (bands * BLOCK_BYTES_PER_VALUE))) - (patch_size - 1)
    return max(16, min(2048, side))


def _read_padded_block(prepared, block):
    arrays, valid = prepared.read(block.read_window)
    padded = [pad_reflect(a, block.pad_top, block.pad_bottom, block.pad_left, block.pad_right)
              for a in arrays]
    return padded, valid


class PatchBank:
    """The patches of given pixels, read block by block; ``batch`` like ``PatchSource.batch``."""

    def __init__(self, prepared, rows: np.ndarray, cols: np.ndarray, patch_size: int,
                 memory_mb: float = DEFAULT_TRAINING_MEMORY_MB, progress=None):
        grid = prepared.stack.grid
        halo = patch_size // 2
        self.patch_size = patch_size
        self.keys = np.unique(np.asarray(rows, np.int64) * grid.width + np.asarray(cols, np.int64))
        key_rows, key_cols = self.keys // grid.width, self.keys % grid.width
        self.width = grid.width
        self.patches = [np.zeros((len(self.keys), bands, patch_size, patch_size), np.float32)
                        for bands in prepared.stack.band_counts]
        side = _block_side(prepared, memory_mb, patch_size)
        for block in iter_blocks(grid.height, grid.width, side, halo):
            inside = ((key_rows >= block.row0) & (key_rows < block.row0 + block.rows)
                      & (key_cols >= block.col0) & (key_cols < block.col0 + block.cols))
            if not inside.any():
                continue  # blocks without labels are never read
            if progress is not None:
                progress.check()
            padded, _ = _read_padded_block(prepared, block)
            # padded origin = (row0 - halo, col0 - halo): the patch top-left of pixel r is r - row0.
            local_rows, local_cols = key_rows[inside] - block.row0, key_cols[inside] - block.col0
            for k, bank in enumerate(self.patches):
                bank[inside] = extract_patches(to_pixel_major(padded[k]), local_rows, local_cols, patch_size)
                padded[k] = None  # free each modality's block as soon as its patches are cut

    @property
    def band_counts(self) -> list:
        return [p.shape[1] for p in self.patches]

    def index_of(self, rows, cols) -> np.ndarray:
        keys = np.asarray(rows, np.int64) * self.width + np.asarray(cols, np.int64)
        index = np.searchsorted(self.keys, keys)
        if len(keys) and (index.max() >= len(self.keys) or (self.keys[index] != keys).any()):
            raise KeyError("asked for a pixel whose patch was not read")
        return index

    def batch(self, rows, cols, device: str) -> list:
        index = self.index_of(rows, cols)
        return [torch.from_numpy(p[index]).to(device) for p in self.patches]


def label_inputs(prepared, rows, cols, patch_size: int, memory_mb: float, progress=None):
    """What train_classifier / predict_samples read patches from: the whole normalised arrays
    when the scene fits ``memory_mb``, else a :class:`PatchBank` of just these pixels."""
    if fits_in_memory(prepared, memory_mb):
        return prepared.read()[0]
    if progress is not None:
        progress.info(f"The scene is larger than the memory budget ({memory_mb:g} MB): reading only "
                      f"the patches of the {len(rows)} labelled pixels.")
    return PatchBank(prepared, rows, cols, patch_size, memory_mb, progress)


class TilePool:
    """Random tiles of a scene too large for memory, as one mosaic for crop sampling.

    ``draw()`` returns (arrays, valid): tiles side by side, each (TILE + 2·halo)² with its true
    halo; only tile cores are valid, so no crop centre ever sees a neighbouring tile's pixels.
    Tiles are drawn without replacement, weighted by their number of valid pixels.
    """

    def __init__(self, prepared, valid: np.ndarray, patch_size: int, memory_mb: float,
                 rng: np.random.Generator, tile: int = TILE):
        grid = prepared.stack.grid
        self.prepared, self.rng, self.halo = prepared, rng, patch_size // 2
        self.slot = tile + 2 * self.halo
        self.blocks = list(iter_blocks(grid.height, grid.width, tile, self.halo))
        self.valid_counts = np.array([int(valid[b.row0:b.row0 + b.rows, b.col0:b.col0 + b.cols].sum())
                                      for b in self.blocks])
        self.valid = valid
        bands = sum(prepared.stack.band_counts)
        per_tile = self.slot * self.slot * bands * BYTES_PER_VALUE
        usable = int((self.valid_counts > 0).sum())
        self.tiles_per_draw = max(1, min(usable, int(memory_mb * 1024 * 1024 // per_tile)))

    def draw(self):
        weights = self.valid_counts / self.valid_counts.sum()
        chosen = self.rng.choice(len(self.blocks), self.tiles_per_draw, replace=False, p=weights)
        chosen = [self.blocks[i] for i in sorted(chosen)]  # read in file order
        self.last_tiles = chosen
        arrays = [np.zeros((b, self.slot, self.slot * len(chosen)), np.float32)
                  for b in self.prepared.stack.band_counts]
        mosaic_valid = np.zeros((self.slot, self.slot * len(chosen)), bool)
        for k, block in enumerate(chosen):
            padded, _ = _read_padded_block(self.prepared, block)
            height, width = padded[0].shape[1:]
            c0 = k * self.slot
            for target, data in zip(arrays, padded):
                target[:, :height, c0:c0 + width] = data
            core = self.valid[block.row0:block.row0 + block.rows, block.col0:block.col0 + block.cols]
            mosaic_valid[self.halo:self.halo + block.rows, c0 + self.halo:c0 + self.halo + block.cols] = core
        return arrays, mosaic_valid
