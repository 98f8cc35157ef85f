"""Accuracy assessment of a classification against reference samples (scikit-learn).

Everything returned is plain Python (float/int/str/None/list/dict) so it can go into JSON and
into a weights-only torch checkpoint. Fractions are 0..1; reports format them as percentages.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, jaccard_score,
                             precision_recall_fscore_support)

from ..errors import InputError


def _float(value) -> float | None:
    """numpy/python number → python float; NaN/inf (undefined) → None."""
    value = float(value)
    return value if math.isfinite(value) else None


def accuracy_assessment(y_true, y_pred, classes: list) -> dict:
    """Compare reference ``y_true`` with predicted ``y_pred`` (both arrays of class codes).

    ``classes`` are ClassInfo (code, name, ...). The confusion matrix has rows = reference and
    columns = predicted, in the order of ``classes``. Undefined values are None: producer's
    accuracy of a class without reference samples, user's accuracy of a class never predicted,
    IoU and F1 of a class neither in the reference nor predicted, kappa when chance agreement is 1.
    Samples whose reference code is not a class are an error; predictions of a code that is not
    a class count as wrong (and appear in no column of the matrix).
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise InputError(f"Reference and prediction differ in length ({y_true.size} and {y_pred.size}).")
    if y_true.size == 0:
        raise InputError("There are no samples to assess the accuracy with.")
    codes = [int(c.code) for c in classes]
    unknown = sorted(set(np.unique(y_true).tolist()) - set(codes))
    if unknown:
        raise InputError(f"Reference samples have codes {unknown[:5]} that are not in the class table.")

    matrix = confusion_matrix(y_true, y_pred, labels=codes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=codes, zero_division=0)
    iou = jaccard_score(y_true, y_pred, labels=codes, average=None, zero_division=0)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 when chance agreement is 1
        kappa = cohen_kappa_score(y_true, y_pred, labels=codes)
    predicted = matrix.sum(axis=0)
    present = support > 0

    per_class = []
    for k, c in enumerate(classes):
        seen = present[k] or predicted[k] > 0
        per_class.append({
            "code": codes[k],
            "name": str(c.name),
            "iou": _float(iou[k]) if seen else None,
            "producers_accuracy": _float(recall[k]) if present[k] else None,
            "users_accuracy": _float(precision[k]) if predicted[k] > 0 else None,
            "f1": _float(f1[k]) if seen else None,
            "support": int(support[k]),
        })
    return {
        "overall_accuracy": _float(accuracy_score(y_true, y_pred)),
        "average_accuracy": _float(np.mean(recall[present])),
        "kappa": _float(kappa),
        "mean_iou": _float(np.mean(iou[present])),
        "n_samples": int(y_true.size),
        "per_class": per_class,
        "confusion_matrix": {"labels": [str(c.name) for c in classes], "codes": codes,
                             "matrix": [[int(v) for v in row] for row in matrix]},
    }
