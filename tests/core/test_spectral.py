"""The spectral linear path: stored as plain arrays it gives scikit-learn's probabilities; the
ensemble is the trained network and that path in one weights-only module."""

import numpy as np
import pytest
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression

from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.learn import finetune, spectral
from multimodal_siamese.core.learn.pretraining import PatchSource
from multimodal_siamese.models.augment import dihedral
from multimodal_siamese.models.network import SpectralFusionClassifier, view_sets


def labelled(n=120, bands=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, bands)) + y[:, None] * rng.normal(size=bands) * 0.8
    return x * rng.uniform(0.1, 10, bands), y


@pytest.mark.parametrize("model", ["sklearn_lda", "logistic"])
def test_stored_path_gives_sklearns_probabilities(model):
    x, y = labelled()
    path = spectral.fit_spectral_path(x, None, y, 4, model)
    standardised = (x - x.mean(0)) / x.std(0)
    estimator = (LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto") if model == "sklearn_lda"
                 else LogisticRegression(C=0.1, max_iter=2000)).fit(standardised, y)
    ours = torch.softmax(torch.as_tensor(spectral.spectral_logits(path, x, None)), 1).numpy()
    assert np.abs(ours - estimator.predict_proba(standardised)).max() < 1e-4
    assert all(v.dtype == np.float32 for v in path.values())  # plain arrays, stored as tensors


@pytest.mark.parametrize("bands", [12, 300])  # fewer, and more, bands than the 120 samples
def test_the_paths_lda_is_bayes_with_one_shrunk_within_class_covariance(bands):
    """The spectral path's LDA: the posterior of Gaussian classes that share one covariance, the
    within-class scatter of all classes together shrunk by the OAS estimate, priors from the counts."""
    from scipy.stats import multivariate_normal
    from sklearn.covariance import OAS

    x, y = labelled(bands=bands)
    path = spectral.fit_spectral_path(x, None, y, 4, "lda")
    z = (x - x.mean(0)) / x.std(0)
    means = np.stack([z[y == k].mean(0) for k in range(4)])
    residuals = z - means[y]
    spread = residuals.std(0)
    covariance = OAS(assume_centered=True).fit(residuals / spread).covariance_ * np.outer(spread, spread)
    log_joint = np.stack([multivariate_normal(means[k], covariance).logpdf(z) + np.log(np.mean(y == k))
                          for k in range(4)], 1)
    expected = torch.softmax(torch.as_tensor(log_joint), 1).numpy()
    ours = torch.softmax(torch.as_tensor(spectral.spectral_logits(path, x, None), dtype=torch.float64), 1).numpy()
    assert np.abs(ours - expected).max() < 1e-3
    assert (ours.argmax(1) == y).mean() > 0.7
    # not scikit-learn's LDA, which shrinks each class's covariance on its own (the classic baseline)
    classic = spectral.fit_spectral_path(x, None, y, 4, "sklearn_lda")
    assert not np.allclose(classic["weight"], path["weight"], atol=1e-3)


def test_absent_class_is_never_predicted_and_binary_works():
    x, y = labelled(classes=3)
    keep = y != 1
    path = spectral.fit_spectral_path(x[keep], None, y[keep], 3, "lda")
    assert 1 not in spectral.spectral_logits(path, x, None).argmax(1)
    two = spectral.fit_spectral_path(x[keep], None, (y[keep] == 2).astype(int), 2, "lda")
    assert spectral.spectral_logits(two, x, None).shape == (len(x), 2)


def test_one_sample_per_class_still_fits():
    x, y = labelled(n=3, classes=3)
    y = np.array([0, 1, 2])
    path = spectral.fit_spectral_path(x, None, y, 3, "lda")
    assert list(spectral.spectral_logits(path, x, None).argmax(1)) == [0, 1, 2]


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


def test_ensemble_holds_the_trained_network_and_the_lda_in_one_module(tmp_path):
    arrays, rows, cols, y = grid_scene()
    source = PatchSource(arrays, 5)
    # the default ensemble: three trainings of g, from seeds 42, 1042 and 2042
    networks = [finetune.train_classifier(source, rows, cols, y, 3, finetune.ClassifierConfig(
        epochs=1, classifier="network", seed=seed)).model for seed in (42, 1042, 2042)]
    result = finetune.train_classifier(source, rows, cols, y, 3,
                                       finetune.ClassifierConfig(epochs=1, classifier="ensemble"))
    model = result.model
    assert isinstance(model, SpectralFusionClassifier)
    arch = model.architecture()
    assert arch["classifier"] == "ensemble" and arch["network_weight"] == 0.5
    assert arch["z_components"] == 0 and arch["band_context"] is False
    assert arch["networks"] == finetune.DEFAULT_NETWORKS == 3 and len(model.members) == 2
    assert arch["test_time_flips"] is finetune.DEFAULT_TEST_TIME_FLIPS is True
    assert arch["views_per_network"] == 3  # the three networks share the 8 views out
    # the same seed trains the same network: the ensemble's g and its members are those networks,
    # weight for weight
    for own, network in zip([model] + list(model.members), networks):
        for key, value in network.state_dict().items():
            assert torch.equal(own.state_dict()[key], value)
    assert not torch.equal(networks[0].linear.weight, networks[1].linear.weight)
    predicted, probabilities = finetune.predict_samples(model, arrays, rows, cols)
    assert (predicted == y).mean() > 0.9  # the LDA sees the class band directly
    # the networks over the 8 flips and quarter turns of each patch, 3 each (test-time flips)
    patches = source.batch(rows, cols, "cpu")
    with torch.no_grad():
        network_p = np.mean([torch.softmax(n.eval()([dihedral(x, t) for x in patches]), 1).numpy()
                             for n, views in zip(networks, view_sets(3, 3)) for t in views], 0)
    # the centre bands read from the arrays in place equal those of the padded patch source
    assert np.array_equal(spectral.pixel_spectra(arrays, rows, cols, 5), spectral.pixel_spectra(source, rows, cols, 5))
    lda = spectral.fit_spectral_path(spectral.pixel_spectra(source, rows, cols, 5), None, y, 3)
    lda_p = torch.softmax(torch.as_tensor(spectral.spectral_logits(
        lda, spectral.pixel_spectra(source, rows, cols, 5), None)), 1).numpy()
    assert np.abs(probabilities - (network_p + lda_p) / 2).max() < 1e-4
    # its spectral path alone (what CLASSIFIER=linear fits on the same pixels): the LDA, no network
    alone = spectral.spectral_path_alone(model)
    assert alone.architecture()["classifier"] == "linear" and model.architecture()["classifier"] == "ensemble"
    assert np.abs(finetune.predict_samples(alone, arrays, rows, cols)[1] - lda_p).max() < 1e-4
    linear = finetune.train_classifier(source, rows, cols, y, 3, finetune.ClassifierConfig(classifier="linear")).model
    assert np.abs(finetune.predict_samples(linear, arrays, rows, cols)[1] - lda_p).max() < 1e-4
    # saved weights-only and rebuilt from its architecture, as mmsiam:classify does
    from multimodal_siamese.models.checkpoint import load_checkpoint, save_checkpoint
    from multimodal_siamese.models.network import classifier_from_architecture

    path = str(tmp_path / "ensemble.pt")
    save_checkpoint(path, "classifier", model.state_dict(), {"architecture": arch})
    loaded = load_checkpoint(path, "classifier")
    rebuilt = classifier_from_architecture(loaded["metadata"]["architecture"])
    rebuilt.load_state_dict(loaded["state_dict"])
    assert np.array_equal(finetune.predict_samples(rebuilt, arrays, rows, cols)[0], predicted)


def test_one_network_ensemble_is_the_network_beside_the_lda():
    arrays, rows, cols, y = grid_scene()
    network = finetune.train_classifier(arrays, rows, cols, y, 3, finetune.ClassifierConfig(
        epochs=1, classifier="network")).model
    model = finetune.train_classifier(arrays, rows, cols, y, 3, finetune.ClassifierConfig(
        epochs=1, classifier="ensemble", networks=1, test_time_flips=False)).model
    assert model.architecture()["networks"] == 1 and len(model.members) == 0
    assert model.architecture()["test_time_flips"] is False
    assert not any(key.startswith("members.") for key in model.state_dict())
    lda = spectral.fit_spectral_path(spectral.pixel_spectra(arrays, rows, cols, 5), None, y, 3)
    lda_p = torch.softmax(torch.as_tensor(spectral.spectral_logits(
        lda, spectral.pixel_spectra(arrays, rows, cols, 5), None)), 1).numpy()
    expected = (finetune.predict_samples(network, arrays, rows, cols)[1] + lda_p) / 2
    assert np.abs(finetune.predict_samples(model, arrays, rows, cols)[1] - expected).max() < 1e-4


def test_networks_must_be_a_whole_number_of_at_least_one():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="NETWORKS"):
            finetune.ClassifierConfig(networks=bad).validate()
    assert finetune.ClassifierConfig(classifier="network", networks=5).network_seeds() == [42]
    assert finetune.ClassifierConfig(classifier="linear").network_seeds() == []
    assert finetune.ClassifierConfig(seed=7).network_seeds() == [7, 1007, 2007]


def test_linear_trains_no_network():
    arrays, rows, cols, y = grid_scene()
    result = finetune.train_classifier(arrays, rows, cols, y, 3,
                                       finetune.ClassifierConfig(epochs=5, classifier="linear"))
    assert result.loss_history == [] and result.model.architecture()["classifier"] == "linear"
    assert (finetune.predict_samples(result.model, arrays, rows, cols)[0] == y).mean() > 0.9


def test_out_of_fold_probabilities_come_from_an_lda_that_did_not_see_the_sample():
    x, y = labelled(n=100, bands=8)
    oof = spectral.out_of_fold_probabilities(x, y, 4, folds=5, seed=3)
    assert oof.shape == (100, 4) and np.allclose(oof.sum(1), 1)
    # an LDA that saw the samples is surer of them, and more often right
    inside = spectral.fit_spectral_path(x, None, y, 4, "lda")
    seen = torch.softmax(torch.as_tensor(spectral.spectral_logits(inside, x, None), dtype=torch.float64), 1).numpy()
    assert not np.allclose(oof, seen, atol=1e-3)
    assert (oof.argmax(1) == y).mean() <= (seen.argmax(1) == y).mean()
    assert oof[np.arange(100), y].mean() < seen[np.arange(100), y].mean()
    # a class with a single sample gets ~0 for its own class: no LDA it was held out from saw it
    lone = np.append(y[:60], 3)
    lone[:60][lone[:60] == 3] = 0
    oof = spectral.out_of_fold_probabilities(x[:61], lone, 4, folds=5)
    assert oof[60, 3] < 1e-6


def _area_scene(pixel_scale: bool, seed=0, size=120, bands=6):
    """Classes in 12-px squares with strong pixel noise (the patch's mean tells them apart
    better than the pixel), or classes drawn pixel by pixel (the mean only mixes them)."""
    rng = np.random.default_rng(seed)
    if pixel_scale:
        classes = rng.integers(0, 3, (size, size))
        noise = 0.5
    else:
        classes = np.kron(rng.integers(0, 3, (size // 12, size // 12)), np.ones((12, 12), int))
        noise = 3.0
    means = rng.normal(size=(3, bands)) * 1.5
    image = (means[classes].transpose(2, 0, 1) + noise * rng.normal(size=(bands, size, size))).astype(np.float32)
    rows, cols = np.mgrid[3:size - 3:4, 3:size - 3:4]
    rows, cols = rows.ravel(), cols.ravel()
    return [image], rows, cols, classes[rows, cols]


@pytest.mark.parametrize("pixel_scale", [False, True])
def test_the_patch_mean_is_chosen_where_objects_span_several_pixels(pixel_scale, monkeypatch):
    arrays, rows, cols, y = _area_scene(pixel_scale)
    source = PatchSource(arrays, 5)
    spectra = spectral.pixel_spectra(source, rows, cols, 5, context=True)
    choice = spectral.choose_band_context(spectra, rows, cols, y, 3, 5, seed=1)
    assert choice.use is (not pixel_scale)
    assert choice.scored == spectral.CONTEXT_REPEATS * len(y)  # every sample held out once per draw
    assert (choice.context_loss < choice.centre_loss) is choice.use
    assert ("added" if choice.use else "left out") in choice.sentence(5)
    assert "spatially blocked cross-validation" in choice.sentence(5)
    # what training does with it: 'auto' (the default) builds the spectral path the choice names,
    # from the training pixels' spectra read once for both
    reads, read = [], spectral.pixel_spectra
    monkeypatch.setattr(spectral, "pixel_spectra", lambda *a, **kw: reads.append(kw) or read(*a, **kw))
    result = finetune.train_classifier(source, rows, cols, y, 3, finetune.ClassifierConfig(classifier="linear", seed=1))
    assert result.model.architecture()["band_context"] is choice.use
    assert result.band_context == choice and reads == [{"context": True}]
    path = spectral.fit_spectral_path(spectra if choice.use else spectra[:, :6], None, y, 3)
    assert np.allclose(result.model.spectral.weight.detach().numpy(), path["weight"], atol=1e-4)
    for setting in ("on", "off"):
        forced = finetune.train_classifier(source, rows, cols, y, 3, finetune.ClassifierConfig(
            classifier="linear", band_context=setting))
        assert forced.model.architecture()["band_context"] is (setting == "on")
        assert "set by hand" in forced.band_context.sentence(5)


def test_labels_in_too_few_blocks_leave_the_patch_mean_out_and_say_why():
    arrays, rows, cols, y = _area_scene(False)
    near = (rows < 30) & (cols < 30)  # one 39-px block
    choice = spectral.choose_band_context(spectral.pixel_spectra(PatchSource(arrays, 5), rows[near], cols[near], 5,
                                                                 context=True), rows[near], cols[near], y[near], 3, 5, 0)
    assert choice.use is False and choice.scored == 0
    assert "fewer than 3 blocks of 39 px" in choice.sentence(5)
    with pytest.raises(InputError, match="SPECTRAL_CONTEXT must be one of auto, off, on"):
        finetune.ClassifierConfig(band_context="maybe").validate()


def test_the_choice_stops_at_the_next_fit_when_cancelled():
    from multimodal_siamese.core.errors import Cancelled

    arrays, rows, cols, y = _area_scene(False)
    spectra = spectral.pixel_spectra(PatchSource(arrays, 5), rows, cols, 5, context=True)
    fits = []

    def check():
        if len(fits) == 3:
            raise Cancelled("cancelled")
        fits.append(1)

    with pytest.raises(Cancelled):
        spectral.choose_band_context(spectra, rows, cols, y, 3, 5, 0, check=check)
    assert len(fits) == 3
