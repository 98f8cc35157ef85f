"""Fine-tuning's step budget: with few labels, ``min_steps`` raises the epochs so that training
takes at least that many optimiser steps (off by default: see why_pretraining.md section 4)."""

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


def test_training_runs_the_raised_number_of_epochs():
    rng = np.random.default_rng(0)
    arrays = [rng.random((3, 20, 20)).astype(np.float32), rng.random((2, 20, 20)).astype(np.float32)]
    rows, cols = np.array([3, 5, 7, 9, 11, 13, 15, 16]), np.array([4, 6, 8, 10, 12, 14, 15, 3])
    y = np.array([0, 1] * 4)
    config = dict(patch_size=5, epochs=2, batch_size=64, classifier="network")
    plain = finetune.train_classifier(arrays, rows, cols, y, 2, finetune.ClassifierConfig(**config))
    floored = finetune.train_classifier(arrays, rows, cols, y, 2, finetune.ClassifierConfig(min_steps=5, **config))
    assert len(plain.loss_history) == 2 and len(floored.loss_history) == 5


def test_negative_step_floor_is_refused():
    with pytest.raises(InputError, match="min_steps"):
        finetune.ClassifierConfig(min_steps=-1).validate()
