"""Accuracy assessment: hand-checked small cases and agreement with direct scikit-learn calls."""

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, jaccard_score

from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.io.labels import ClassInfo
from multimodal_siamese.core.learn.metrics import accuracy_assessment

CLASSES = [ClassInfo(3, 3, "water", "#0000ff"), ClassInfo(7, 7, "forest", "#00ff00"),
           ClassInfo(9, 9, "urban", "#ff0000")]


def assert_plain(obj):
    """Only JSON/torch-safe python types, recursively."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str
            assert_plain(v)
    elif isinstance(obj, list):
        for v in obj:
            assert_plain(v)
    else:
        assert obj is None or type(obj) in (bool, int, float, str), (obj, type(obj))


def test_hand_checked_and_orientation():
    # water: 4 reference, 3 right, 1 predicted forest; forest: 2 reference, both predicted urban;
    # urban: 1 reference, right. Asymmetric, so a transposed matrix would be caught.
    y_true = np.array([3, 3, 3, 3, 7, 7, 9], dtype=np.uint8)
    y_pred = np.array([3, 3, 3, 7, 9, 9, 9], dtype=np.uint8)
    a = accuracy_assessment(y_true, y_pred, CLASSES)
    assert a["n_samples"] == 7
    assert a["confusion_matrix"]["codes"] == [3, 7, 9]
    assert a["confusion_matrix"]["labels"] == ["water", "forest", "urban"]
    assert a["confusion_matrix"]["matrix"] == [[3, 1, 0], [0, 0, 2], [0, 0, 1]]  # rows = reference
    assert a["overall_accuracy"] == pytest.approx(4 / 7)
    assert a["average_accuracy"] == pytest.approx((3 / 4 + 0 + 1) / 3)
    water, forest, urban = a["per_class"]
    assert water["producers_accuracy"] == pytest.approx(0.75)
    assert water["users_accuracy"] == pytest.approx(1.0)
    assert forest["producers_accuracy"] == 0 and forest["users_accuracy"] == 0  # predicted once, wrong
    assert urban["producers_accuracy"] == pytest.approx(1.0)
    assert urban["users_accuracy"] == pytest.approx(1 / 3)
    assert [p["iou"] for p in a["per_class"]] == pytest.approx([3 / 4, 0.0, 1 / 3])
    assert a["mean_iou"] == pytest.approx((3 / 4 + 0 + 1 / 3) / 3)
    assert water["f1"] == pytest.approx(2 * 0.75 * 1.0 / 1.75)
    assert [p["support"] for p in a["per_class"]] == [4, 2, 1]
    # kappa by hand: po = 4/7, pe = (4*3 + 2*1 + 1*3) / 49
    po, pe = 4 / 7, 17 / 49
    assert a["kappa"] == pytest.approx((po - pe) / (1 - pe))


def test_agrees_with_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y_true = rng.choice([3, 7, 9], size=500, p=[0.5, 0.3, 0.2])
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.choice([3, 7, 9], size=500))
    a = accuracy_assessment(y_true, y_pred, CLASSES)
    assert a["overall_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert a["kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred))
    iou = jaccard_score(y_true, y_pred, labels=[3, 7, 9], average=None)
    assert [p["iou"] for p in a["per_class"]] == pytest.approx(iou.tolist())
    assert a["mean_iou"] == pytest.approx(iou.mean())
    assert a["confusion_matrix"]["matrix"] == confusion_matrix(y_true, y_pred, labels=[3, 7, 9]).tolist()
    assert sum(map(sum, a["confusion_matrix"]["matrix"])) == 500


def test_class_without_reference_samples():
    y_true = np.array([3, 3, 7, 7])
    y_pred = np.array([3, 9, 7, 7])  # urban predicted once but never in the reference
    a = accuracy_assessment(y_true, y_pred, CLASSES + [ClassInfo(12, 12, "bare", "#aaaaaa")])
    urban, bare = a["per_class"][2], a["per_class"][3]
    assert urban["support"] == 0 and urban["producers_accuracy"] is None
    assert urban["users_accuracy"] == 0 and urban["iou"] == 0
    assert bare["support"] == 0 and bare["producers_accuracy"] is None and bare["users_accuracy"] is None
    assert bare["iou"] is None and bare["f1"] is None
    # AA and mIoU only over classes with reference samples (water, forest).
    assert a["average_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert a["mean_iou"] == pytest.approx((0.5 + 1.0) / 2)
    assert a["confusion_matrix"]["matrix"][2] == [0, 0, 0, 0]


def test_plain_json_types():
    a = accuracy_assessment(np.array([3, 7, 9, 9], dtype=np.int64), np.array([3, 9, 9, 9], dtype=np.uint8),
                            CLASSES)
    assert_plain(a)
    assert json.loads(json.dumps(a, allow_nan=False)) == a


def test_undefined_kappa_is_none_and_bad_input_raises():
    a = accuracy_assessment([3, 3, 3], [3, 3, 3], CLASSES)
    assert a["overall_accuracy"] == 1.0 and a["kappa"] is None
    with pytest.raises(InputError):
        accuracy_assessment([], [], CLASSES)
    with pytest.raises(InputError):
        accuracy_assessment([3, 4], [3, 3], CLASSES)  # reference code 4 is not a class
    with pytest.raises(InputError):
        accuracy_assessment([3, 3], [3], CLASSES)


def test_a_single_class_test_part_scores_miou_as_oa_and_kappa_zero_or_none():
    """What mmsiam:evaluate's warning on folds that test only some classes says of their scores."""
    y_true = np.array([7] * 10)
    a = accuracy_assessment(y_true, np.array([7] * 8 + [3, 9]), CLASSES)
    assert a["mean_iou"] == pytest.approx(a["overall_accuracy"]) == pytest.approx(0.8)
    assert a["average_accuracy"] == pytest.approx(0.8) and a["kappa"] == pytest.approx(0.0)
    assert accuracy_assessment(y_true, y_true, CLASSES)["kappa"] is None
