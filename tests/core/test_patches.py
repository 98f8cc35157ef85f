"""Patch extraction and blocks: vectorised, reflect border rule, identical block-wise."""

import numpy as np
import pytest

from multimodal_siamese.core.io import patches
from multimodal_siamese.core.errors import InputError


def reference_patch(data, row, col, size):
    h = size // 2
    padded = np.pad(data, ((0, 0), (h, h), (h, h)), mode="reflect")
    return padded[:, row:row + size, col:col + size]


def test_extract_patches_matches_naive_slicing_including_borders():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 20, 17)).astype(np.float32)
    size = 7
    h = size // 2
    pm = patches.to_pixel_major(patches.pad_reflect(data, h, h, h, h))
    rows = np.array([0, 0, 19, 10, 19, 3])
    cols = np.array([0, 16, 0, 8, 16, 2])
    got = patches.extract_patches(pm, rows, cols, size)
    assert got.shape == (6, 5, size, size) and got.flags.c_contiguous
    for i, (r, c) in enumerate(zip(rows, cols)):
        np.testing.assert_array_equal(got[i], reference_patch(data, r, c, size))
    # The centre pixel of a patch is the pixel itself.
    np.testing.assert_array_equal(got[:, :, h, h], data[:, rows, cols].T)


def test_blocks_with_halo_reproduce_whole_raster_patches():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(3, 23, 30)).astype(np.float32)
    size, h = 5, 2
    whole = patches.to_pixel_major(patches.pad_reflect(data, h, h, h, h))
    covered = np.zeros(data.shape[1:], dtype=int)
    for block in patches.iter_blocks(23, 30, 8, h):
        r0, c0, nr, nc = block.read_window
        part = patches.pad_reflect(data[:, r0:r0 + nr, c0:c0 + nc], block.pad_top, block.pad_bottom,
                                   block.pad_left, block.pad_right)
        assert part.shape[1:] == (block.rows + 2 * h, block.cols + 2 * h)
        rows, cols = np.mgrid[0:block.rows, 0:block.cols]
        got = patches.extract_patches(patches.to_pixel_major(part), rows.ravel(), cols.ravel(), size)
        want = patches.extract_patches(whole, rows.ravel() + block.row0, cols.ravel() + block.col0, size)
        np.testing.assert_array_equal(got, want)
        covered[block.row0:block.row0 + block.rows, block.col0:block.col0 + block.cols] += 1
    assert (covered == 1).all()


def test_patch_size_rules():
    for bad in (1, 2, 4, 12):
        with pytest.raises(InputError, match="odd"):
            patches.check_patch_size(bad)
    patches.check_patch_size(13)


def test_too_small_raster_is_explained():
    with pytest.raises(InputError, match="too small"):
        patches.pad_reflect(np.zeros((1, 4, 4), np.float32), 6, 6, 6, 6)


def test_sample_valid_pixels_only_draws_valid_ones():
    valid = np.zeros((10, 12), dtype=bool)
    valid[2:4, 5:9] = True
    rows, cols = patches.sample_valid_pixels(valid, 100, np.random.default_rng(0))
    assert valid[rows, cols].all()
