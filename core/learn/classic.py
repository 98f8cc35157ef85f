"""The classic classifiers an analyst already runs in seconds, on each pixel's own bands.

A random forest (the classic QGIS workflow: dzetsaka, SCP), a shrinkage LDA and a logistic
regression (a few clicks in EnMAP-Box) on the standardised centre-pixel bands of every modality.
``mmsiam:evaluate`` compares the network with them over folds and seeds, and every training
report scores them on its own validation pixels, so the analyst sees the strongest alternative.
"""

from __future__ import annotations

import numpy as np

from .spectral import fit_spectral_path, spectral_logits

CLASSIC_METHODS = ("random_forest", "lda", "logistic")
CLASSIC_NAMES = {"random_forest": "random forest", "lda": "shrinkage LDA", "logistic": "logistic regression"}


def classic_predictions(train_bands: np.ndarray, train_targets: np.ndarray, test_bands: np.ndarray,
                        n_classes: int, trees: int = 300, seed: int = 0) -> dict:
    """Predicted class indices of the test pixels per classic method, all fitted on the same
    training pixels: a ``trees``-tree forest on the bands, a shrinkage LDA and a logistic
    regression (C = 0.1) on the standardised bands."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(trees, n_jobs=-1, random_state=seed)
    predictions = {"random_forest": forest.fit(train_bands, train_targets).predict(test_bands)}
    for name, model in (("lda", "sklearn_lda"), ("logistic", "logistic")):  # as analysts run them elsewhere
        path = fit_spectral_path(train_bands, None, train_targets, n_classes, model)
        predictions[name] = spectral_logits(path, test_bands, None).argmax(1)
    return predictions
