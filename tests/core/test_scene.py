"""Training within a memory budget: patches and tile pools read on demand equal the whole-scene
path, pretraining and classifier training run through them, and the result does not change."""

import os

import numpy as np
import pytest

from multimodal_siamese.core.jobs import classifier_run, pretrain_run
from multimodal_siamese.core.io import inputs, raster, scene
from multimodal_siamese.core.learn import pretraining
from multimodal_siamese.core.learn.finetune import ClassifierConfig
from multimodal_siamese.core.io.labels import read_label_features
from multimodal_siamese.core.progress import Progress


def potsdam_modalities(data_dir):
    d = os.path.join(data_dir, "potsdam")
    return [raster.ModalityInput("HYPERSPECTRAL", os.path.join(d, "enmap_potsdam_vnir.vrt")),
            raster.ModalityInput("MULTISPECTRAL", os.path.join(d, "enmap_potsdam_swir.vrt"))]


@pytest.fixture(scope="module")
def potsdam(data_dir):
    prepared = inputs.prepare(potsdam_modalities(data_dir), inputs.GridOptions())
    yield prepared
    prepared.close()


@pytest.fixture(scope="module")
def whole(potsdam):
    return potsdam.read()


def test_scan_mask_equals_the_whole_read_mask(potsdam, whole, data_dir):
    assert potsdam.valid is not None
    assert np.array_equal(potsdam.valid, whole[1])
    assert not potsdam.valid.all()  # Potsdam has nodata around the city, so this compares something
    # A model's inputs (no scan) compute the same mask strip by strip.
    like = inputs.prepare_like(potsdam_modalities(data_dir), potsdam.describe(), inputs.GridOptions(), "model")
    try:
        assert like.valid is None
        assert np.array_equal(like.valid_mask(), whole[1])
    finally:
        like.close()


def test_patch_bank_equals_whole_scene_patches_at_borders_and_nodata(potsdam, whole):
    arrays, valid = whole
    height, width = valid.shape
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, height, 300), [0, 0, height - 1, height - 1, 5]])
    cols = np.concatenate([rng.integers(0, width, 300), [0, width - 1, 0, width - 1, 3]])
    assert fitted_budget(potsdam) > 1, "the test needs several blocks"
    bank = scene.PatchBank(potsdam, rows, cols, 13, memory_mb=1)  # 1 MB: blocks of a few dozen px
    expected = pretraining.PatchSource(arrays, 13).batch(rows, cols, "cpu")
    got = bank.batch(rows, cols, "cpu")
    assert bank.band_counts == [a.shape[0] for a in arrays]
    for e, g in zip(expected, got):
        assert np.array_equal(e.numpy(), g.numpy())
    with pytest.raises(KeyError):
        bank.batch(np.array([rows.max() + 1 if rows.max() + 1 < height else 1]), np.array([7]), "cpu")


def fitted_budget(prepared):
    """How many 1 MB blocks the scene needs (> 1 means the bank reads block-wise)."""
    return scene.training_bytes(prepared) / (1024 * 1024)


def test_tile_pool_mosaic_gives_every_valid_centre_its_true_patch(potsdam, whole):
    arrays, valid = whole
    pool = scene.TilePool(potsdam, potsdam.valid, 13, memory_mb=30, rng=np.random.default_rng(1), tile=40)
    assert 1 < pool.tiles_per_draw < len(pool.blocks)
    mosaic, mosaic_valid = pool.draw()
    assert mosaic_valid.sum() == sum(int(valid[b.row0:b.row0 + b.rows, b.col0:b.col0 + b.cols].sum())
                                     for b in pool.last_tiles)
    full_source = pretraining.PatchSource(arrays, 13)
    mosaic_source = pretraining.PatchSource(mosaic, 13)
    for k, block in enumerate(pool.last_tiles):
        local_r, local_c = np.nonzero(mosaic_valid[:, k * pool.slot:(k + 1) * pool.slot])
        scene_r, scene_c = block.row0 + local_r - pool.halo, block.col0 + local_c - pool.halo
        for e, g in zip(full_source.batch(scene_r, scene_c, "cpu"),
                        mosaic_source.batch(local_r, local_c + k * pool.slot, "cpu")):
            assert np.array_equal(e.numpy(), g.numpy())


def test_pretraining_from_tile_pools_learns(potsdam):
    pool = scene.TilePool(potsdam, potsdam.valid, 13, memory_mb=30, rng=np.random.default_rng(2), tile=40)
    progress = Progress()
    config = pretraining.PretrainConfig(epochs=3, samples_per_epoch=512, batch_size=64, dim=256,
                                        pred_hidden=64, seed=5)
    result = pretraining.pretrain(None, None, config, progress, tile_pool=pool)
    assert result.loss_history[-1] < result.loss_history[0]
    assert not result.collapsed
    assert any("larger than the memory budget" in m for m in progress.messages)


def test_pretraining_job_under_a_small_budget_never_reads_the_whole_scene(potsdam, tmp_path, monkeypatch):
    whole_reads = []
    original = inputs.PreparedInputs.read

    def counting_read(self, window=None):
        if window is None:
            whole_reads.append(True)
        return original(self, window)

    monkeypatch.setattr(inputs.PreparedInputs, "read", counting_read)
    config = pretraining.PretrainConfig(epochs=1, samples_per_epoch=256, batch_size=64, dim=128, pred_hidden=32)
    metadata = pretrain_run.run_pretraining(potsdam, config, str(tmp_path / "m.pt"), None, Progress(), memory_mb=16)
    assert metadata["read_whole_scene"] is False and not whole_reads
    metadata = pretrain_run.run_pretraining(potsdam, config, str(tmp_path / "n.pt"), None, Progress(), memory_mb=4096)
    assert metadata["read_whole_scene"] is True and whole_reads


def test_classifier_training_reads_only_label_patches_and_gives_the_same_model(data_dir, potsdam, tmp_path):
    labels = read_label_features(os.path.join(data_dir, "potsdam", "landcover_potsdam_samples.gpkg"), "class_id")
    config = dict(epochs=2, batch_size=64, seed=1, patch_size=7)
    small = classifier_run.train_and_save(potsdam, labels, ClassifierConfig(**config), str(tmp_path / "a.pt"),
                                          train_ratio=0.1, memory_mb=1)
    large = classifier_run.train_and_save(potsdam, labels, ClassifierConfig(**config), str(tmp_path / "b.pt"),
                                          train_ratio=0.1, memory_mb=4096)
    assert small["assessment"]["overall_accuracy"] == large["assessment"]["overall_accuracy"]
    assert small["loss_history"] == large["loss_history"]
