"""The linear probe of pretraining (core.learn.probe, core.jobs.pretrain_run) on real Tahoe labels."""

import os

import numpy as np
import pytest
import torch

from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.io.labels import LabelFeatures, read_label_features, rasterize_labels
from multimodal_siamese.core.io.scene import PatchBank
from multimodal_siamese.core.jobs import pretrain_run
from multimodal_siamese.core.learn import pretraining, probe
from multimodal_siamese.core.learn.classic import classic_predictions
from multimodal_siamese.core.learn.metrics import accuracy_assessment
from multimodal_siamese.core.learn.spectral import pixel_spectra
from multimodal_siamese.core.progress import Progress

SMALL = dict(epochs=1, samples_per_epoch=256, batch_size=64, dim=128, pred_hidden=32, seed=3)


@pytest.fixture(scope="module")
def polygons(data_dir):
    return read_label_features(os.path.join(data_dir, "tahoe", "tahoe_training_polygons.gpkg"), "Class")


@pytest.fixture(scope="module")
def probed(tahoe, polygons, tmp_path_factory):
    progress = Progress()  # keeps every message
    path = str(tmp_path_factory.mktemp("probe") / "pretrained.pt")
    report = path[:-3] + ".html"
    metadata = pretrain_run.run_pretraining(tahoe, pretraining.PretrainConfig(**SMALL), path, report, progress,
                                            labels=polygons)
    return metadata, progress, path, report


def test_pretraining_with_labels_scores_the_features_beside_the_bands(probed, tahoe, polygons):
    metadata, progress, path, report = probed
    result = metadata["linear_probe"]
    assert result["folds"] == 3 and len(result["per_fold"]) == 3
    assert result["classes"] == 3 and result["features"] == 2 * 128 and result["bands"] == 4
    # every labelled pixel is tested exactly once (the blocks partition the labels)
    assert sum(f["test_pixels"] for f in result["per_fold"]) == result["labelled_pixels"] == 2243
    for name in ("probe", "bands_lda"):
        for key in ("overall_accuracy", "mean_iou"):
            per_fold = [f[name][key] for f in result["per_fold"]]
            assert all(0 <= v <= 1 for v in per_fold)
            assert result[name][key] == pytest.approx(np.mean(per_fold))
    # the LDA figure, recomputed independently: the classic LDA on the same folds
    samples = rasterize_labels(polygons, tahoe.stack.grid, tahoe.valid_mask())
    folds = probe.probe_folds(samples, 5, tahoe.valid_mask().shape, SMALL["seed"])
    arrays, _ = tahoe.read()
    bands = pixel_spectra(arrays, samples.rows, samples.cols, 5)
    codes = np.array([c.code for c in samples.classes])
    for fold, (train, test) in zip(result["per_fold"], folds):
        assert (fold["train_pixels"], fold["test_pixels"]) == (len(train), len(test))
        lda = classic_predictions(bands[train], samples.class_index[train], bands[test], 3, trees=2)["lda"]
        expected = accuracy_assessment(codes[samples.class_index[test]], codes[lda], samples.classes)
        assert fold["bands_lda"]["overall_accuracy"] == pytest.approx(expected["overall_accuracy"])
        # no training pixel's patch holds a test pixel's centre (Chebyshev distance > PATCH_SIZE // 2)
        gap = np.maximum(np.abs(samples.rows[train][:, None] - samples.rows[test][None]),
                         np.abs(samples.cols[train][:, None] - samples.cols[test][None]))
        assert gap.min() > 2
    sentence = next(m for m in progress.messages if m.startswith("Linear probe on your 2243 labelled pixels"))
    assert f"{100 * result['bands_lda']['overall_accuracy']:.1f} %" in sentence
    # saved with the model (a safe checkpoint) and shown in the report
    assert torch.load(path, weights_only=True)["metadata"]["linear_probe"] == result
    html = open(report, encoding="utf-8").read()
    assert "Linear probe on your labels" in html and f"{100 * result['probe']['overall_accuracy']:.1f}" in html


def test_the_probe_reads_the_labels_patches_alone_the_same(probed, tahoe, polygons):
    """A scene over the memory budget gives the probe a bank of the labels' patches: same figures."""
    metadata, _, path, _ = probed
    checkpoint = torch.load(path, weights_only=True)
    from multimodal_siamese.models.network import MultimodalSiamese

    model = MultimodalSiamese.from_architecture(checkpoint["metadata"]["architecture"])
    model.load_state_dict(checkpoint["state_dict"])
    samples = rasterize_labels(polygons, tahoe.stack.grid, tahoe.valid_mask())
    folds = probe.probe_folds(samples, 5, tahoe.valid_mask().shape, SMALL["seed"])
    bank = PatchBank(tahoe, samples.rows, samples.cols, 5, memory_mb=1)
    again = probe.linear_probe(model.projections, model.encoder, bank, samples, 5, folds)
    for name in ("probe", "bands_lda"):
        assert again[name]["overall_accuracy"] == pytest.approx(metadata["linear_probe"][name]["overall_accuracy"],
                                                               abs=1e-6)


def _subset(features, keep):
    return LabelFeatures([w for w, k in zip(features.wkbs, keep) if k], [v for v, k in zip(features.values, keep) if k],
                         features.crs_wkt, features.layer_name, features.field_name)


@pytest.mark.parametrize("keep, message", [
    (lambda values: [v == "Shrub" for v in values], "only one class \\('Shrub'\\)"),
])
def test_labels_unfit_for_a_probe_are_refused_before_pretraining(tahoe, polygons, tmp_path, keep, message):
    progress = Progress()  # keeps every message
    labels = _subset(polygons, keep(polygons.values))
    path = tmp_path / "pretrained.pt"
    with pytest.raises(InputError, match=message):
        pretrain_run.run_pretraining(tahoe, pretraining.PretrainConfig(**SMALL), str(path), None, progress,
                                     labels=labels)
    assert not path.exists()
    assert not any("epoch" in m.lower() for m in progress.messages)  # refused before the first epoch


def test_labels_in_too_few_blocks_are_refused(tahoe, polygons):
    samples = rasterize_labels(polygons, tahoe.stack.grid, tahoe.valid_mask())
    block = (samples.rows // 39) * 1000 + samples.cols // 39
    two = [block[np.flatnonzero(samples.class_index == k)[0]] for k in (0, 1)]  # a block of each of 2 classes
    near = np.isin(block, two)
    few = type(samples)(samples.rows[near], samples.cols[near], samples.class_index[near], samples.classes)
    assert len(np.unique(few.class_index)) >= 2  # so it is the blocks, not the classes, that are too few
    with pytest.raises(InputError, match="fewer than 3 blocks of 39 px"):
        probe.probe_folds(few, 5, tahoe.valid_mask().shape, 0)


def test_the_probe_fits_in_the_span_of_z_and_gives_the_full_models_logits(probed, tahoe, polygons, monkeypatch):
    """z of 2 × 128 values has at most 2 × (24 + 1) independent ones (PATCH_SIZE 5: one block of 24
    channels, then an affine output layer): the probe fitted on 50 coordinates is the logistic
    regression on all 256 values, and a bound too small falls back to all of them."""
    from multimodal_siamese.core.learn.pretraining import PatchSource
    from multimodal_siamese.core.learn.spectral import (fit_spectral_path, pretrained_z, probe_logits,
                                                        spectral_logits, z_rank_bound)
    from multimodal_siamese.models.network import MultimodalSiamese

    checkpoint = torch.load(probed[2], weights_only=True)
    model = MultimodalSiamese.from_architecture(checkpoint["metadata"]["architecture"])
    model.load_state_dict(checkpoint["state_dict"])
    assert z_rank_bound(model.projections, model.encoder) == 50
    samples = rasterize_labels(polygons, tahoe.stack.grid, tahoe.valid_mask())
    arrays, _ = tahoe.read()
    z = pretrained_z(model.projections, model.encoder, PatchSource(arrays, 5), samples.rows, samples.cols)
    assert z.shape[1] == 256 and np.linalg.matrix_rank(z - z.mean(0), tol=1e-3 * np.abs(z).max()) <= 50
    train, test = probe.probe_folds(samples, 5, tahoe.valid_mask().shape, SMALL["seed"])[0]
    y = samples.class_index
    full = spectral_logits(fit_spectral_path(z[train], None, y[train], 3, "logistic"), z[test], None)
    from multimodal_siamese.core.learn import spectral

    fitted, fit_linear = [], spectral.fit_linear
    monkeypatch.setattr(spectral, "fit_linear", lambda x, *a: fitted.append(x.shape[1]) or fit_linear(x, *a))
    for bound, width in ((50, 50), (10, 256)):  # the product's bound; one too small for the span falls back
        fast = probe_logits(z[train], y[train], z[test], 3, bound)
        assert fitted.pop() == width
        assert np.mean(fast.argmax(1) == full.argmax(1)) > 0.999
        assert np.abs(fast - full).max() < 1e-2 * np.abs(full).max()


def test_a_scene_over_the_memory_budget_is_probed_from_the_labels_patches(tahoe, polygons, tmp_path, monkeypatch):
    from multimodal_siamese.core.io import inputs

    whole_reads = []
    read = inputs.PreparedInputs.read
    monkeypatch.setattr(inputs.PreparedInputs, "read",
                        lambda self, window=None: whole_reads.append(window is None) or read(self, window))
    metadata = pretrain_run.run_pretraining(tahoe, pretraining.PretrainConfig(**SMALL), str(tmp_path / "m.pt"), None,
                                            Progress(), memory_mb=1, labels=polygons)
    assert metadata["read_whole_scene"] is False and not any(whole_reads)
    assert metadata["linear_probe"]["labelled_pixels"] == 2243 and len(metadata["linear_probe"]["per_fold"]) == 3


def test_a_fold_left_with_one_class_to_train_on_is_refused(tahoe, polygons):
    """Three blocks, one per fold: a class whose labels lie in one block leaves the fold that tests
    that block with the other class alone to train on."""
    samples = rasterize_labels(polygons, tahoe.stack.grid, tahoe.valid_mask())
    block = (samples.rows // 39) * 1000 + samples.cols // 39
    first = [np.unique(block[samples.class_index == k]) for k in (0, 1)]
    a_blocks = [b for b in first[0] if b not in first[1]][:2]
    b_block = [b for b in first[1] if b not in first[0]][:1]
    assert len(a_blocks) == 2 and len(b_block) == 1
    keep = np.isin(block, a_blocks) & (samples.class_index == 0) | np.isin(block, b_block) & (samples.class_index == 1)
    three = type(samples)(samples.rows[keep], samples.cols[keep], samples.class_index[keep], samples.classes)
    with pytest.raises(InputError, match="a fold of the linear probe keeps fewer than two classes to train on"):
        probe.probe_folds(three, 5, tahoe.valid_mask().shape, 0)
