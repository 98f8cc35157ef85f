"""The shrinkage LDA's shrinkage: scikit-learn's Ledoit-Wolf estimate ('auto', what the default's
spectral path and the classic baseline use) against fixed values, and chosen per run from the
training labels.

    .venv/bin/python benchmarks/few_labels.py --lean --pretrain-variant ctx --tag _cpred --scene S --seed N
    .venv/bin/python benchmarks/context_rules.py --scene S --scores
    .venv/bin/python benchmarks/lda_shrinkage.py --scene S            # seeds 42-44, 5 / 10 / 20 %
    .venv/bin/python benchmarks/lda_shrinkage.py --table potsdam para tahoe_chm tahoe

On few_labels.py's folds and training pixels (3 spatially blocked folds of 39 px), per run: the
LDA on the standardised centre bands with each shrinkage of ``FIXED`` (``lda_<s>``); and the LDA
on the features ``SPECTRAL_CONTEXT=auto`` chose (``context_rules.py``'s ``pick_nll``) with the
shrinkage of ``GRID`` that the training labels prefer on the context rule's blocked inner folds
(``spectral.context_folds``): the lowest held-out log-loss (``cv_nll``) or the highest held-out OA
(``cv_oa``), alone and in the default rebuilt from the ``_cpred`` runs' saved networks
(``default_cv_*``: ½ networks + ½ that LDA; ``default``: as saved).
"""

import json
import os

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from context_rules import command_line, mean_table, runs, scene_pixels, scored_row
from few_labels import OUT
from multimodal_siamese.core.learn.spectral import MIN_LOG_LIKELIHOOD, context_folds, log_softmax
from rebuild_default import saved_default

PATCH = 5
FIXED = ("auto", "oas", 0.02, 0.05, 0.1, 0.2, 0.4)
GRID = ("auto", 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def lda_logits(train, y, test, n_classes, shrinkage):
    """Test logits (N, K) of an LDA on features standardised on ``train``; absent classes −1e9."""
    from sklearn.covariance import OAS

    mean, scale = train.mean(0), train.std(0)
    scale[scale < 1e-12] = 1
    estimator = (LinearDiscriminantAnalysis(solver="lsqr", covariance_estimator=OAS()) if shrinkage == "oas"
                 else LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage))
    estimator.fit((train - mean) / scale, y)
    decision = estimator.decision_function((test - mean) / scale)
    if len(estimator.classes_) == 2:
        decision = np.stack([np.zeros(len(test)), decision], 1)
    logits = np.full((len(test), n_classes), -1e9)
    logits[:, estimator.classes_] = decision
    return logits


def chosen_shrinkage(features, rows, cols, y, n_classes, seed):
    """(by held-out log-loss, by held-out OA) over the context rule's blocked inner folds."""
    loss, right = np.zeros(len(GRID)), np.zeros(len(GRID))
    for train, test in context_folds(rows, cols, y, PATCH, seed):
        if len(np.unique(y[train])) < 2:
            continue
        for i, shrinkage in enumerate(GRID):
            logits = lda_logits(features[train], y[train], features[test], n_classes, shrinkage)
            loss[i] -= np.maximum(log_softmax(logits)[np.arange(len(test)), y[test]], MIN_LOG_LIKELIHOOD).sum()
            right[i] += (logits.argmax(1) == y[test]).sum()
    return GRID[int(np.argmin(loss))], GRID[int(np.argmax(right))]  # ties: the first ('auto')


def run(scene):
    arrays, valid, samples, spectra = scene_pixels(scene)
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    n_classes = len(samples.classes)
    centre = spectra[:, :spectra.shape[1] // 2]
    picks = {(r["seed"], r["fold"], r["ratio"]): r["pick_nll"]
             for r in json.load(open(os.path.join(OUT, f"context_rules_scores_{scene}.json")))}
    out = []
    for seed, f, ratio, train, test in runs(arrays, samples):
        default, _, use, networks = saved_default(scene, seed, f + 1, ratio, y[test], picks[(seed, f + 1, ratio)])
        features = spectra if use else centre
        by_nll, by_oa = chosen_shrinkage(features[train], rows[train], cols[train], y[train], n_classes,
                                         seed + f)
        methods = {f"lda_{s}": np.exp(log_softmax(lda_logits(centre[train], y[train], centre[test],
                                                             n_classes, s))) for s in FIXED}
        methods["default"] = default
        for name, shrinkage in (("cv_nll", by_nll), ("cv_oa", by_oa)):
            p = np.exp(log_softmax(lda_logits(features[train], y[train], features[test], n_classes, shrinkage)))
            methods[name], methods["default_" + name] = p, 0.5 * networks + 0.5 * p
        row = dict(seed=seed, fold=f + 1, ratio=ratio, shrinkage_cv_nll=by_nll, shrinkage_cv_oa=by_oa)
        out.append(scored_row(row, methods, samples, y[test]))
    with open(os.path.join(OUT, f"lda_shrinkage_{scene}.json"), "w") as fh:
        json.dump(out, fh)


def table(scenes):
    return mean_table("lda_shrinkage", scenes, [f"lda_{s}" for s in FIXED] + ["default", "default_cv_nll", "default_cv_oa"])


if __name__ == "__main__":
    command_line(__doc__, run, table=table)
