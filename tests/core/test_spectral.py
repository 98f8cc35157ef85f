"""The spectral linear path: stored as plain arrays it gives scikit-learn's probabilities; the
ensemble's blend is chosen by an inner cross-validation."""

import numpy as np
import pytest
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression

from multimodal_siamese.core import finetune, spectral
from multimodal_siamese.core.pretraining import PatchSource
from multimodal_siamese.models.network import SpectralFusionClassifier


def labelled(n=120, bands=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, bands)) + y[:, None] * rng.normal(size=bands) * 0.8
    return x * rng.uniform(0.1, 10, bands), y


@pytest.mark.parametrize("model", ["lda", "logistic"])
def test_stored_path_gives_sklearns_probabilities(model):
    x, y = labelled()
    path = spectral.fit_spectral_path(x, None, y, 4, model)
    standardised = (x - x.mean(0)) / x.std(0)
    estimator = (LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto") if model == "lda"
                 else LogisticRegression(C=0.1, max_iter=2000)).fit(standardised, y)
    ours = torch.softmax(torch.as_tensor(spectral.spectral_logits(path, x, None)), 1).numpy()
    assert np.abs(ours - estimator.predict_proba(standardised)).max() < 1e-4
    assert all(v.dtype == np.float32 for v in path.values())  # plain arrays, stored as tensors


def test_absent_class_is_never_predicted_and_binary_works():
    x, y = labelled(classes=3)
    keep = y != 1
    path = spectral.fit_spectral_path(x[keep], None, y[keep], 3, "lda")
    assert 1 not in spectral.spectral_logits(path, x, None).argmax(1)
    two = spectral.fit_spectral_path(x[keep], None, (y[keep] == 2).astype(int), 2, "lda")
    assert spectral.spectral_logits(two, x, None).shape == (len(x), 2)


def test_calibration_softens_an_overconfident_lda():
    x, y = labelled(n=90, bands=60)
    path = spectral.fit_spectral_path(x, None, y, 4, "lda", calibrate=True)
    assert path["temperature"] > 1
    raw = spectral.fit_spectral_path(x, None, y, 4, "lda")
    assert np.allclose(path["weight"] * path["temperature"], raw["weight"], rtol=1e-4, atol=1e-4)


def grid_scene(seed=0):
    """Two modalities over 90 × 90 px with three classes in spatial blocks; class signal in one band."""
    rng = np.random.default_rng(seed)
    arrays = [rng.random((3, 90, 90)).astype(np.float32), rng.random((2, 90, 90)).astype(np.float32)]
    rows, cols = np.mgrid[2:88:3, 2:88:3]
    rows, cols = rows.ravel(), cols.ravel()
    y = (rows // 30 + cols // 45) % 3
    arrays[0][0, rows, cols] += y
    return arrays, rows, cols, y


def test_ensemble_blend_is_chosen_by_inner_cross_validation_and_saved_in_the_module():
    arrays, rows, cols, y = grid_scene()
    config = finetune.ClassifierConfig(epochs=1, classifier="ensemble")
    result = finetune.train_classifier(PatchSource(arrays, 5), rows, cols, y, 3, config)
    blend = result.blend
    assert blend["inner_folds"] >= 2 and blend["network_weight"] in finetune.BLEND_WEIGHTS
    assert len(blend["scores"]) == 2 * len(finetune.BLEND_WEIGHTS)
    model = result.model
    assert isinstance(model, SpectralFusionClassifier)
    arch = model.architecture()
    assert arch["network_weight"] == blend["network_weight"] and arch["band_context"] == blend["context"]
    predicted, _ = finetune.predict_samples(model, arrays, rows, cols)
    assert (predicted == y).mean() > 0.9  # the LDA sees the class band directly


def test_linear_trains_no_network_and_tiny_label_sets_keep_the_default_blend():
    arrays, rows, cols, y = grid_scene()
    result = finetune.train_classifier(arrays, rows, cols, y, 3,
                                       finetune.ClassifierConfig(epochs=5, classifier="linear"))
    assert result.loss_history == [] and result.model.architecture()["network_weight"] == 0.0
    few = np.array([0, 1, 15, 16, 29, 44])  # two blocks of labels, two classes: no inner folds
    result = finetune.train_classifier(arrays, rows[few], cols[few], y[few], 3,
                                       finetune.ClassifierConfig(epochs=1, classifier="ensemble"))
    assert result.blend["inner_folds"] == 0 and result.blend["network_weight"] == 0.5
