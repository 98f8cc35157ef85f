"""Cross-validation folds over labelled pixels: stratified random folds, and spatial blocks with a
halo (training pixels within PATCH_SIZE//2 of a test pixel dropped), used by the evaluation
(:mod:`.evaluation`), the linear probe (:mod:`.probe`) and the spectral path's own choice of its
inputs (:mod:`.spectral`)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ..errors import InputError


def random_folds(class_index: np.ndarray, folds: int, seed: int) -> list:
    """Stratified k-fold over samples → list of (train, test) index arrays."""
    counts = np.bincount(class_index)
    if counts[counts > 0].min() < folds:
        raise InputError(f"A class has fewer labelled samples ({counts[counts > 0].min()}) than FOLDS "
                         f"({folds}). Lower FOLDS or add samples.")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(class_index)), class_index))


BLOCK_ASSIGNMENT_TRIES = 100


def block_folds(rows: np.ndarray, cols: np.ndarray, folds: int, block_size: int, patch_size: int,
                shape: tuple, seed: int, class_index: np.ndarray | None = None,
                tries: int = BLOCK_ASSIGNMENT_TRIES) -> list:
    """Spatial blocks to folds; training samples within PATCH_SIZE//2 of a test sample dropped.

    With ``class_index``, up to ``tries`` seeded random assignments of blocks to folds are drawn
    and the first is kept in which every fold's training part holds every class of its test part
    (as the R package blockCV iterates assignments towards balanced folds). A class whose samples
    all lie in one fold's blocks is otherwise absent from that fold's training, and every
    classifier, classic or not, misses all its test samples: such a fold compares nothing. When
    no assignment avoids it, the one with the fewest such test samples is kept
    (:func:`unlearnable_test_samples` tells which). The first assignment tried is the one drawn
    without ``class_index``."""
    block_id = (rows // block_size) * (shape[1] // block_size + 1) + cols // block_size
    blocks = np.unique(block_id)
    if len(blocks) < folds:
        raise InputError(f"The labels cover only {len(blocks)} spatial blocks of {block_size} px, fewer "
                         f"than FOLDS ({folds}). Use a smaller BLOCK_SIZE or fewer folds.")
    rng = np.random.default_rng(seed)
    best = None  # (test samples of untrained classes, folds)
    for _ in range(max(1, tries) if class_index is not None else 1):
        fold_of_block = dict(zip(rng.permutation(blocks), np.arange(len(blocks)) % folds))
        fold_of_sample = np.array([fold_of_block[b] for b in block_id])
        result = _split_blocks(rows, cols, fold_of_sample, folds, patch_size, shape)
        missing = 0 if class_index is None else sum(
            sum(lacking.values()) for lacking in unlearnable_test_samples(result, class_index))
        if best is None or missing < best[0]:
            best = (missing, result)
        if missing == 0:
            break
    return best[1]


def _split_blocks(rows, cols, fold_of_sample, folds, patch_size, shape) -> list:
    halo = patch_size // 2
    width = int(max(shape[1], cols.max(initial=0) + 1)) + 2 * halo
    result = []
    for k in range(folds):
        test = np.flatnonzero(fold_of_sample == k)
        train = np.flatnonzero((fold_of_sample != k) & ~_within(rows, cols, test, halo, width))
        result.append((train, test))
    return result


def _within(rows, cols, test, halo, width) -> np.ndarray:
    """Which samples lie within ``halo`` px (Chebyshev distance) of a ``test`` sample: the test
    pixels dilated by a (2 halo + 1)² square, on the samples' keys alone (no raster-sized mask,
    so large scenes cost no more than small ones)."""
    offsets = np.arange(-halo, halo + 1)
    near_rows = rows[test].astype(np.int64)[:, None, None] + offsets[None, :, None]
    near_cols = cols[test].astype(np.int64)[:, None, None] + offsets[None, None, :]
    near = np.unique(near_rows * width + near_cols + halo)  # (tests, 2 halo + 1, 2 halo + 1) keys
    return np.isin(rows.astype(np.int64) * width + cols + halo, near)


def unlearnable_test_samples(folds: list, class_index: np.ndarray) -> list:
    """Per fold, {class index: test samples} of the classes its training part lacks."""
    out = []
    for train, test in folds:
        trained = set(np.unique(class_index[train]).tolist())
        counts = np.bincount(class_index[test])
        out.append({int(k): int(counts[k]) for k in np.flatnonzero(counts) if int(k) not in trained})
    return out


def untested_classes(folds: list, class_index: np.ndarray) -> list:
    """Per fold, the indices of the labelled classes its test part holds none of (sorted)."""
    labelled = np.unique(class_index)
    return [sorted(int(k) for k in np.setdiff1d(labelled, class_index[test])) for _, test in folds]


def subsample(train: np.ndarray, class_index: np.ndarray, ratio: float, rng) -> np.ndarray:
    """A stratified fraction of the training samples (at least one per class present)."""
    if ratio >= 1:
        return train
    picked = []
    for k in np.unique(class_index[train]):
        members = train[class_index[train] == k]
        picked.append(rng.choice(members, max(1, int(round(ratio * len(members)))), replace=False))
    return np.sort(np.concatenate(picked))
