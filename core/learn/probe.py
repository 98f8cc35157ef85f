"""The linear probe: how well the pretrained features alone separate the analyst's classes.

The usual figure of a self-supervised representation. A logistic regression (C = 0.1, as in
``mmsiam:evaluate``'s 'linear probe of pretrained z') is fitted on the pretrained
``z = [z_1 ‖ … ‖ z_n]`` of labelled pixels and scored on others. Beside it, on the same folds, a
shrinkage LDA on the same pixels' own bands (what the default classifier's linear half reads),
so the figure says whether the features carry more or less of the classes than the spectrum.

The folds are spatially blocked (:func:`.folds.block_folds`): blocks of ``block_size`` px
go to ``folds`` folds, and training pixels within PATCH_SIZE // 2 of a test pixel are dropped.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.labels import LabelSamples
from ..progress import Progress
from .evaluation import EvaluationConfig
from .folds import block_folds, unlearnable_test_samples
from .metrics import accuracy_assessment
from .spectral import fit_spectral_path, pixel_spectra, pretrained_z, probe_logits, spectral_logits, z_rank_bound

PROBE_FOLDS = 3
PROBE_BLOCK_SIZE = EvaluationConfig.block_size


def probe_folds(samples: LabelSamples, patch_size: int, shape: tuple, seed: int,
                folds: int = PROBE_FOLDS, block_size: int = PROBE_BLOCK_SIZE) -> list:
    """The probe's spatially blocked folds, or an InputError that says why there can be none.

    Called before pretraining, so that labels unfit for a probe are refused before the minutes
    of pretraining, not after them."""
    names = sorted({samples.classes[k].name for k in np.unique(samples.class_index)}, key=str)
    if len(names) < 2:
        raise InputError(f"The labels hold only one class ('{names[0] if names else ''}') on valid pixels; "
                         "the linear probe needs at least two. Add labels of other classes, or leave "
                         "Labels empty to pretrain without the probe.")
    try:
        result = block_folds(samples.rows, samples.cols, folds, block_size, patch_size, shape, seed,
                             samples.class_index)
    except InputError:
        raise InputError(f"The labels lie in fewer than {folds} blocks of {block_size} px, so the linear "
                         f"probe cannot test on labels away from those it trains on. Spread the labels "
                         "over more of the scene, or leave Labels empty to pretrain without the probe.") from None
    if any(len(np.unique(samples.class_index[train])) < 2 for train, _ in result):
        raise InputError(f"With {len(samples.rows)} labelled pixels, a fold of the linear probe keeps fewer than "
                         "two classes to train on once the pixels next to its test blocks are set aside. "
                         "Add labels in more places, or leave Labels empty to pretrain without the probe.")
    return result


def linear_probe(projections, encoder, source, samples: LabelSamples, patch_size: int, folds: list,
                 block_size: int = PROBE_BLOCK_SIZE, progress: Progress | None = None) -> dict:
    """Score the probe and the LDA on the bands over ``folds`` (from :func:`probe_folds`).

    ``projections``, ``encoder``: the pretrained P_k and f; ``source``: a patch source of the
    normalised inputs at the labelled pixels. Returns plain numbers (JSON-able): per fold and the
    mean over folds, OA and mIoU of both."""
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    n_classes = len(samples.classes)
    codes = np.array([c.code for c in samples.classes])
    z = pretrained_z(projections, encoder, source, rows, cols)
    bands = pixel_spectra(source, rows, cols, patch_size)
    lacking = unlearnable_test_samples(folds, y)
    rank = z_rank_bound(projections, encoder)
    per_fold = []
    for f, (train, test) in enumerate(folds):
        if progress is not None:
            progress.check()
        fold = {"fold": f + 1, "train_pixels": int(len(train)), "test_pixels": int(len(test)),
                "untrained_test_pixels": int(sum(lacking[f].values()))}
        lda = fit_spectral_path(bands[train], None, y[train], n_classes, "sklearn_lda")  # the classic one
        predicted = {"probe": probe_logits(z[train], y[train], z[test], n_classes, rank).argmax(1),
                     "bands_lda": spectral_logits(lda, bands[test], None).argmax(1)}
        for name, labels in predicted.items():
            a = accuracy_assessment(codes[y[test]], codes[labels], samples.classes)
            fold[name] = {"overall_accuracy": a["overall_accuracy"], "mean_iou": a["mean_iou"]}
        per_fold.append(fold)
    mean = {name: {key: float(np.mean([fold[name][key] for fold in per_fold]))
                   for key in ("overall_accuracy", "mean_iou")} for name in ("probe", "bands_lda")}
    return {"folds": len(folds), "block_size": int(block_size), "labelled_pixels": int(len(y)),
            "classes": int(len(np.unique(y))), "features": int(z.shape[1]), "bands": int(bands.shape[1]),
            **mean, "per_fold": per_fold}


def probe_sentence(probe: dict) -> str:
    """The probe's result in one or two sentences for the log and the report."""
    p, b = probe["probe"], probe["bands_lda"]
    text = (f"Linear probe on your {probe['labelled_pixels']} labelled pixels ({probe['folds']} spatially "
            f"blocked folds): a logistic regression on the pretrained features reaches "
            f"{100 * p['overall_accuracy']:.1f} % OA ({100 * p['mean_iou']:.1f} % mIoU); a shrinkage LDA on "
            f"the same pixels' own bands {100 * b['overall_accuracy']:.1f} % ({100 * b['mean_iou']:.1f} % mIoU).")
    if p["overall_accuracy"] < b["overall_accuracy"]:
        text += (" The features alone separate your classes less well than the bands do, which is common: "
                 "the default classifier uses both, the networks fine-tuned from these features and an LDA "
                 "on the bands.")
    else:
        text += " The features alone separate your classes at least as well as the bands do."
    return text
