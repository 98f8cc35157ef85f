"""Fine-tuning's step budget: with few labels, ``min_steps`` raises the epochs so that training
takes at least that many optimiser steps (off by default: see why_pretraining.md section 4); and
the linear probe before fine-tuning (``probe_epochs``, LP-FT; off by default: few_labels.md)."""

import numpy as np
import pytest

from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.learn import finetune


def test_effective_epochs_reach_the_step_floor_only_for_small_sets():
    config = finetune.ClassifierConfig(epochs=2, batch_size=64, min_steps=20)
    assert config.effective_epochs(8) == 20      # one step per epoch: 20 epochs
    assert config.effective_epochs(130) == 7     # three steps per epoch: ceil(20 / 3)
    assert config.effective_epochs(1000) == 2    # 16 steps per epoch: the epochs already suffice
    assert finetune.ClassifierConfig(epochs=2).effective_epochs(8) == 2  # default: epochs as given


def _pixels():
    rng = np.random.default_rng(0)
    arrays = [rng.random((3, 20, 20)).astype(np.float32), rng.random((2, 20, 20)).astype(np.float32)]
    rows, cols = np.array([3, 5, 7, 9, 11, 13, 15, 16]), np.array([4, 6, 8, 10, 12, 14, 15, 3])
    return arrays, rows, cols, np.array([0, 1] * 4)


def test_training_runs_the_raised_number_of_epochs():
    arrays, rows, cols, y = _pixels()
    config = dict(patch_size=5, epochs=2, batch_size=64, classifier="network")
    plain = finetune.train_classifier(arrays, rows, cols, y, 2, finetune.ClassifierConfig(**config))
    floored = finetune.train_classifier(arrays, rows, cols, y, 2, finetune.ClassifierConfig(min_steps=5, **config))
    assert len(plain.loss_history) == 2 and len(floored.loss_history) == 5


def test_negative_step_floor_is_refused():
    with pytest.raises(InputError, match="min_steps"):
        finetune.ClassifierConfig(min_steps=-1).validate()
    with pytest.raises(InputError, match="probe_epochs"):
        finetune.ClassifierConfig(probe_epochs=-1).validate()


def test_the_linear_probe_trains_only_the_head_then_everything_is_fine_tuned():
    import torch

    arrays, rows, cols, y = _pixels()
    torch.manual_seed(0)
    arch = dict(band_counts=[3, 2], patch_size=5, n_classes=2)
    pretrained = finetune.FusionClassifier.from_architecture(arch)
    state = {k: v.clone() for k, v in pretrained.state_dict().items()}
    config = finetune.ClassifierConfig(patch_size=5, epochs=2, batch_size=64, classifier="network", probe_epochs=3)
    result = finetune.train_classifier(arrays, rows, cols, y, 2, config, state, pretrained.architecture())
    assert len(result.loss_history) == 3 + 2           # the probe's epochs, then the fine-tuning's
    assert all(p.requires_grad for p in result.model.parameters())

    # the probe alone: g's linear layer moves, the pretrained f and projections do not
    model = finetune._initial_network(dict(arch, dim=pretrained.architecture()["dim"]), state, 7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = finetune._StepCounter(finetune.Progress(), finetune.EtaClock(), 10)
    with finetune._only_the_head_trainable(model):
        finetune._fit_network(model, finetune.patch_source(arrays, 5), rows, cols, y, 2, config, 7, 1e-2, 2, "cpu",
                              steps, "")
    weights = {k for k, v in model.named_parameters()}
    moved = {k for k in weights if not torch.equal(model.state_dict()[k], before[k])}
    assert moved == {"linear.weight", "linear.bias"}
    assert all(p.requires_grad for p in model.parameters())


def test_without_pretrained_weights_there_is_no_probe():
    arrays, rows, cols, y = _pixels()
    config = finetune.ClassifierConfig(patch_size=5, epochs=2, batch_size=64, classifier="network", probe_epochs=3)
    assert len(finetune.train_classifier(arrays, rows, cols, y, 2, config).loss_history) == 2


def test_the_ensemble_loss_is_the_mixtures_likelihood_with_out_of_fold_lda_probabilities(monkeypatch):
    import torch

    arrays, rows, cols, y = _pixels()
    config = finetune.ClassifierConfig(patch_size=5, epochs=1, batch_size=64, classifier="network", seed=5)
    seen = {}

    def out_of_fold(bands, targets, n_classes, seed):
        seen.update(bands=bands, seed=seed)
        return np.tile([0.9, 0.1], (len(targets), 1))

    monkeypatch.setattr(finetune, "out_of_fold_probabilities", out_of_fold)
    plain = finetune.train_classifier(arrays, rows, cols, y, 2, config)
    assert not seen  # off by default
    config.ensemble_loss = True
    mixed = finetune.train_classifier(arrays, rows, cols, y, 2, config)
    assert seen["bands"].shape == (8, 5) and seen["seed"] == 5  # the centre pixels' 3 + 2 bands
    assert np.isclose(seen["bands"][0, 0], arrays[0][0, 3, 4])
    # the same weights and batches: the first epoch's loss is -log(½ p + ½ q) of the true class
    model = finetune._initial_network(dict(band_counts=[3, 2], patch_size=5, n_classes=2), None, 5)
    with torch.no_grad():
        model.train()
        generator = torch.Generator().manual_seed(5)
        order = np.random.default_rng(5).permutation(8)
        p = torch.softmax(model(finetune.random_dihedral(
            finetune.patch_source(arrays, 5).batch(rows[order], cols[order], "cpu"), generator)), 1)
    q = torch.tensor([0.9, 0.1]).expand(8, 2)
    target = torch.as_tensor(y[order])
    expected = -torch.log(0.5 * p + 0.5 * q)[torch.arange(8), target].mean()
    assert abs(mixed.loss_history[0] - float(expected)) < 1e-4
    assert abs(plain.loss_history[0] - float(expected)) > 1e-3
