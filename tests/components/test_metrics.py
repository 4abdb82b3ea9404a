"""Metrics against scikit-learn's: ``pytest tests/components/test_metrics.py``.

Every reference value comes from ``sklearn.metrics`` (or NumPy) on the same predictions, never from
``mltrain`` itself. Predictions are drawn from seeded generators; float64 inputs are compared at 1e-12.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from mltrain.components.losses import LOSSES
from mltrain.components.metrics import (
    METRICS,
    MetricSet,
    accuracy,
    auroc,
    classification_report,
    confusion_matrix,
    f1,
    mae,
    mse,
    precision,
    r2,
    recall,
    rmse,
    top_k_accuracy,
)

REL = 1e-12
# auroc's rank arithmetic runs in float32 (see test_auroc_is_computed_in_float64); its other tests check the
# definition at float32 precision so that one bug fails one test
AUROC_REL = 1e-6
N_ROWS = 400
SCENARIOS = ("random", "never_predicted", "absent_class")


def _labels(n_classes: int, scenario: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (predicted, true) class indices.

    ``never_predicted``: the last class occurs in the target but is never predicted.
    ``absent_class``: the last class occurs neither in the target nor in the predictions.
    """
    rng = np.random.default_rng(seed)
    true_high = n_classes - 1 if scenario == "absent_class" else n_classes
    pred_high = n_classes if scenario == "random" else n_classes - 1
    target = rng.integers(0, true_high, N_ROWS)
    # agree with the target for about half the rows, so the scores are not all near chance
    predicted = np.where(rng.random(N_ROWS) < 0.5, target, rng.integers(0, pred_high, N_ROWS))
    predicted = np.minimum(predicted, pred_high - 1)
    return predicted, target


def _cases() -> list[tuple[int, str]]:
    # with two classes an absent class leaves a one-class problem: keep 2 classes to random / never predicted
    return [(k, s) for k in (2, 3, 10) for s in SCENARIOS if not (k == 2 and s == "absent_class")]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.parametrize(("n_classes", "scenario"), _cases())
def test_confusion_matrix_matches_sklearn(n_classes: int, scenario: str) -> None:
    predicted, target = _labels(n_classes, scenario, seed=n_classes)
    expected = skm.confusion_matrix(target, predicted, labels=list(range(n_classes)))
    got = confusion_matrix(_t(predicted), _t(target), n_classes)
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_classification_report_equals_scikit_learns(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    y_true = rng.integers(0, n_classes, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, n_classes, 200))
    y_pred[y_pred == n_classes - 1] = 0  # a class never predicted: zero division gives 0, as sklearn's
    classes = [f"class {i}" for i in range(n_classes)]
    ours = classification_report(confusion_matrix(_t(y_pred), _t(y_true), n_classes), classes)
    theirs = skm.classification_report(y_true, y_pred, labels=list(range(n_classes)), target_names=classes,
                                         output_dict=True, zero_division=0)  # fmt: skip
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.parametrize(("n_classes", "scenario"), _cases())
def test_accuracy_matches_sklearn(n_classes: int, scenario: str) -> None:
    predicted, target = _labels(n_classes, scenario, seed=10 + n_classes)
    got = accuracy(_t(predicted), _t(target))
    assert got.item() == pytest.approx(skm.accuracy_score(target, predicted), rel=REL)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize(("n_classes", "scenario"), _cases())
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(precision, skm.precision_score), (recall, skm.recall_score), (f1, skm.f1_score)],
    ids=["precision", "recall", "f1"],
)
def test_precision_recall_f1_match_sklearn(
    ours: Callable[..., torch.Tensor],
    theirs: Callable[..., float],
    n_classes: int,
    scenario: str,
    average: str,
) -> None:
    predicted, target = _labels(n_classes, scenario, seed=20 + n_classes)
    expected = theirs(target, predicted, labels=list(range(n_classes)), average=average, zero_division=0.0)
    got = ours(_t(predicted), _t(target), n_classes=n_classes, average=average)
    assert got.item() == pytest.approx(expected, rel=REL, abs=1e-15)


@pytest.mark.parametrize("scenario", ["random", "never_predicted"])
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(precision, skm.precision_score), (recall, skm.recall_score), (f1, skm.f1_score)],
    ids=["precision", "recall", "f1"],
)
def test_binary_average_matches_sklearn(
    ours: Callable[..., torch.Tensor], theirs: Callable[..., float], scenario: str
) -> None:
    predicted, target = _labels(2, scenario, seed=30)
    if scenario == "never_predicted":  # the positive class is the one never predicted
        assert not (predicted == 1).any() and (target == 1).any()
    expected = theirs(target, predicted, average="binary", pos_label=1, zero_division=0.0)
    got = ours(_t(predicted), _t(target), n_classes=2, average="binary")
    assert got.item() == pytest.approx(expected, rel=REL, abs=1e-15)


def test_scores_of_a_class_never_predicted_are_zero_like_sklearn() -> None:
    target = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])  # class 2 never predicted
    for ours, theirs in ((precision, skm.precision_score), (f1, skm.f1_score)):
        expected = theirs(target, predicted, labels=[0, 1, 2], average="macro", zero_division=0.0)
        got = ours(_t(predicted), _t(target), n_classes=3, average="macro")
        assert got.item() == pytest.approx(expected, rel=REL)
    # by hand: precision of classes 0, 1, 2 = 2/3, 2/3, 0 (no prediction -> 0)
    assert precision(_t(predicted), _t(target), n_classes=3).item() == pytest.approx(4 / 9, rel=REL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, N_ROWS)
    score = rng.random(N_ROWS) + 0.3 * target
    probabilities = np.stack([1 - score, score], axis=1)
    got = auroc(_t(probabilities), _t(target))
    assert got.item() == pytest.approx(skm.roc_auc_score(target, score), rel=AUROC_REL)


def test_auroc_is_computed_in_float64() -> None:
    """Like every other metric; float32 ranks lose the seventh digit."""
    rng = np.random.default_rng(3)
    target = rng.integers(0, 2, N_ROWS)
    score = rng.random(N_ROWS) + 0.3 * target
    got = auroc(_t(np.stack([1 - score, score], axis=1)), _t(target))
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(skm.roc_auc_score(target, score), rel=REL)


@pytest.mark.parametrize("levels", [2, 5, 20])
def test_auroc_counts_tied_scores_half_like_sklearn(levels: int) -> None:
    rng = np.random.default_rng(levels)
    target = rng.integers(0, 2, N_ROWS)
    score = np.round(rng.random(N_ROWS) * (levels - 1) + 0.5 * target) / levels  # many exact ties
    assert len(np.unique(score)) < N_ROWS // 4
    probabilities = np.stack([1 - score, score], axis=1)
    got = auroc(_t(probabilities), _t(target))
    assert got.item() == pytest.approx(skm.roc_auc_score(target, score), rel=AUROC_REL)


def test_auroc_of_constant_scores_is_one_half() -> None:
    target = np.array([0, 1, 0, 1, 1])
    probabilities = np.full((5, 2), 0.5)
    got = auroc(_t(probabilities), _t(target))
    assert got.item() == pytest.approx(skm.roc_auc_score(target, probabilities[:, 1]), rel=REL)


def test_auroc_with_one_class_present_is_nan() -> None:
    probabilities = torch.tensor([[0.2, 0.8], [0.6, 0.4]], dtype=torch.float64)
    assert torch.isnan(auroc(probabilities, torch.tensor([1, 1])))


@pytest.mark.parametrize(("n_classes", "k"), [(3, 1), (3, 2), (10, 1), (10, 3), (10, 5), (10, 9)])
def test_top_k_accuracy_matches_sklearn(n_classes: int, k: int) -> None:
    rng = np.random.default_rng(100 + k)
    target = rng.integers(0, n_classes, N_ROWS)
    scores = rng.random((N_ROWS, n_classes))
    scores[np.arange(N_ROWS), target] += 0.3  # better than chance
    expected = skm.top_k_accuracy_score(target, scores, k=k, labels=list(range(n_classes)))
    got = top_k_accuracy(_t(scores), _t(target), k=k)
    assert got.item() == pytest.approx(expected, rel=REL)


def test_top_k_accuracy_with_k_at_least_the_class_count_is_one() -> None:
    scores = torch.rand(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(1))
    assert top_k_accuracy(scores, target, k=5).item() == 1.0


def _regression(n_targets: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.normal(3.0, 2.0, (N_ROWS, n_targets))
    values = target + rng.normal(0.0, 0.7, (N_ROWS, n_targets))
    return values, target


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (mae, skm.mean_absolute_error),
        (mse, skm.mean_squared_error),
        (rmse, skm.root_mean_squared_error),
        (r2, skm.r2_score),
    ],
    ids=["mae", "mse", "rmse", "r2"],
)
def test_regression_metrics_match_sklearn(
    ours: Callable[..., torch.Tensor], theirs: Callable[..., float], n_targets: int
) -> None:
    values, target = _regression(n_targets, seed=n_targets)
    expected = theirs(target, values)  # multi-column: uniform average over columns
    assert ours(_t(values), _t(target)).item() == pytest.approx(expected, rel=REL)


def test_r2_of_predicting_the_mean_is_zero_and_perfect_is_one() -> None:
    _, target = _regression(2, seed=5)
    mean = np.broadcast_to(target.mean(0), target.shape)
    assert r2(_t(mean), _t(target)).item() == pytest.approx(0.0, abs=1e-12)
    assert r2(_t(target), _t(target)).item() == 1.0


def test_r2_of_a_constant_column_follows_sklearn() -> None:
    """scikit-learn scores a constant target column 1.0 when predicted exactly, 0.0 otherwise."""
    _, target = _regression(2, seed=6)
    target[:, 0] = 4.0
    values = target.copy()
    values[:, 1] += 0.5  # column 0 (constant) predicted exactly, column 1 off
    expected = skm.r2_score(target, values)
    assert r2(_t(values), _t(target)).item() == pytest.approx(expected, rel=REL)


def test_every_registered_metric_is_tested_here() -> None:
    assert set(METRICS.names()) == {
        "accuracy",
        "auroc",
        "f1",
        "mae",
        "mse",
        "precision",
        "r2",
        "recall",
        "rmse",
        "top_k_accuracy",
    }


# --- MetricSet: raw model outputs in, metrics in the target's own terms out -----------------------


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_metric_set_multiclass_matches_sklearn() -> None:
    rng = np.random.default_rng(7)
    n_classes = 4
    target = rng.integers(0, n_classes, N_ROWS)
    logits = rng.normal(size=(N_ROWS, n_classes))
    logits[np.arange(N_ROWS), target] += 1.0
    logits[:, 3] -= 10.0  # class 3 is never predicted
    config = {
        "accuracy": {},
        "f1": {"average": "macro"},
        "precision": {"average": "weighted"},
        "recall": {"average": "micro"},
        "top_k_accuracy": {"k": 2},
    }
    got = MetricSet(config, LOSSES.get("ce")(), n_classes=n_classes)(_t(logits), _t(target))

    labels = list(range(n_classes))
    predicted = logits.argmax(1)
    assert not (predicted == 3).any()
    expected = {
        "accuracy": skm.accuracy_score(target, predicted),
        "f1": skm.f1_score(target, predicted, labels=labels, average="macro", zero_division=0.0),
        "precision": skm.precision_score(
            target, predicted, labels=labels, average="weighted", zero_division=0.0
        ),
        "recall": skm.recall_score(target, predicted, labels=labels, average="micro", zero_division=0.0),
        "top_k_accuracy": skm.top_k_accuracy_score(target, _softmax(logits), k=2, labels=labels),
    }
    assert list(got) == list(config)
    for name, value in got.items():
        assert value.ndim == 0
        assert value.item() == pytest.approx(expected[name], rel=REL), name


def test_metric_set_binary_uses_one_logit_column() -> None:
    rng = np.random.default_rng(8)
    target = rng.integers(0, 2, N_ROWS)
    logits = rng.normal(size=(N_ROWS, 1)) + (target[:, None] - 0.5)
    config = {"accuracy": {}, "f1": {"average": "binary"}, "recall": {"average": "macro"}, "auroc": {}}
    loss = LOSSES.get("bce")()
    got = MetricSet(config, loss, n_classes=2)(_t(logits), _t(target.astype(np.float32)))

    predicted = (logits[:, 0] > 0).astype(int)  # label = logit > 0
    probability = 1 / (1 + np.exp(-logits[:, 0]))  # P(class 1) = sigmoid(logit)
    expected = {
        "accuracy": skm.accuracy_score(target, predicted),
        "f1": skm.f1_score(target, predicted, average="binary"),
        "recall": skm.recall_score(target, predicted, average="macro"),
        "auroc": skm.roc_auc_score(target, probability),
    }
    for name, value in got.items():
        assert value.item() == pytest.approx(expected[name], rel=AUROC_REL if name == "auroc" else REL), name


@pytest.mark.parametrize("n_targets", [1, 2])
def test_metric_set_regression_reports_original_units(n_targets: int) -> None:
    rng = np.random.default_rng(9)
    mean, std = rng.normal(50.0, 10.0, n_targets), rng.uniform(2.0, 20.0, n_targets)
    target = rng.normal(size=(N_ROWS, n_targets))  # standardised, as the model sees it
    outputs = target + rng.normal(0.0, 0.3, (N_ROWS, n_targets))
    config = {"mae": {}, "mse": {}, "r2": {}}
    if n_targets == 1:  # multi-column rmse has its own test (test_regression_metrics_match_sklearn)
        config["rmse"] = {}
    got = MetricSet(config, LOSSES.get("mse")(), target_scale=(_t(mean), _t(std)))(_t(outputs), _t(target))

    real_target, real_values = target * std + mean, outputs * std + mean
    expected = {
        "mae": skm.mean_absolute_error(real_target, real_values),
        "mse": skm.mean_squared_error(real_target, real_values),
        "rmse": skm.root_mean_squared_error(real_target, real_values),
        "r2": skm.r2_score(real_target, real_values),
    }
    assert list(got) == list(config)
    for name, value in got.items():
        assert value.item() == pytest.approx(expected[name], rel=REL), name
    # in standardised units the errors would be std times smaller
    assert got["mae"].item() > 1.5 * skm.mean_absolute_error(target, outputs)


def test_metric_set_regression_with_float32_scalar_scale_like_fit() -> None:
    """``commands/fit.py`` passes ``torch.tensor(float)`` scalars and the model emits float32."""
    rng = np.random.default_rng(10)
    mean, std = 152.1, 77.0
    target = rng.normal(size=(N_ROWS, 1)).astype(np.float32)
    outputs = (target + rng.normal(0.0, 0.5, (N_ROWS, 1))).astype(np.float32)
    scale = (torch.tensor(mean), torch.tensor(std))
    got = MetricSet({"mae": {}, "r2": {}}, LOSSES.get("mse")(), target_scale=scale)(_t(outputs), _t(target))

    real_target = target.astype(np.float64) * std + mean
    real_values = outputs.astype(np.float64) * std + mean
    assert got["mae"].item() == pytest.approx(skm.mean_absolute_error(real_target, real_values), rel=1e-5)
    assert got["r2"].item() == pytest.approx(skm.r2_score(real_target, real_values), rel=1e-5)


def test_metric_set_without_metrics_is_empty() -> None:
    metric_set = MetricSet({}, LOSSES.get("ce")(), n_classes=3)
    assert metric_set.names == []
    assert metric_set(torch.zeros(4, 3), torch.zeros(4)) == {}
