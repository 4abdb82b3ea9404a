"""Metrics by name (``metric=[accuracy,f1]``), computed in torch on a whole epoch's outputs at once.

The trainer keeps every batch's outputs on the device and calls a :class:`MetricSet` once per epoch, so
metrics cost no per-batch host synchronisation. Definitions follow scikit-learn's (tests compare them).
The confusion matrix and the per-class report built from it live here too: a fit's report, ``evaluate``
and the plots all take them from :func:`confusion_matrix` and :func:`classification_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mltrain.components.directions import BETTER
from mltrain.components.losses import BINARY, LOSSES, MULTICLASS, REGRESSION, Loss
from mltrain.components.registry import Registry, options

METRICS: Registry = Registry("metric")

CLASSIFICATION, REGRESSION_ONLY, BINARY_ONLY = "classification", "regression", "binary"
KIND: dict[str, str] = {}  # metric name -> which targets it needs
AVERAGES = ("macro", "micro", "weighted", "binary")


def history_columns(metrics: Mapping[str, Any], validation: bool) -> list[str]:
    """The number columns of ``history.csv`` a run with these metrics and validation rows writes."""
    train = ["loss", *metrics]
    return train + ([f"val_{c}" for c in train] if validation else []) + ["lr"]


def _metric(name: str, kind: str) -> Callable:
    if name not in BETTER:  # every metric says which way is better (components/directions.py)
        raise ValueError(f"metric {name!r} has no direction in components.directions.BETTER")

    def add(fn: Callable) -> Callable:
        KIND[name] = kind
        return METRICS.register(name)(fn)

    return add


def confusion_matrix(labels: Tensor, target: Tensor, n_classes: int) -> Tensor:
    """``cm[i, j]``: rows of true class i predicted as class j (scikit-learn's layout)."""
    return torch.bincount(target * n_classes + labels, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def classification_report(cm: Tensor, classes: Sequence[Any]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, plus accuracy and macro and weighted averages.

    The same numbers and layout as scikit-learn's ``classification_report(output_dict=True,
    zero_division=0)`` (a test compares them), so a run does not import scikit-learn (and SciPy) for it.

    Args:
        cm: the counts of :func:`confusion_matrix`, true class by row.
        classes: the class names, in the matrix's order.
    """
    scores = dict(zip(("precision", "recall", "f1-score"), _precision_recall_f1(cm, None), strict=True))
    support = cm.sum(1)
    total = int(support.sum())
    report: dict[str, Any] = {
        str(c): {**{k: float(v[i]) for k, v in scores.items()}, "support": int(support[i])}
        for i, c in enumerate(classes)
    }
    report["accuracy"] = int(cm.diagonal().sum()) / total if total else 0.0
    weights = support.double() / total if total else torch.zeros(len(classes), dtype=torch.float64)
    report["macro avg"] = {**{k: float(v.mean()) for k, v in scores.items()}, "support": total}
    report["weighted avg"] = {**{k: float((v * weights).sum()) for k, v in scores.items()}, "support": total}
    return report


def _precision_recall_f1(cm: Tensor, average: str | None) -> tuple[Tensor, Tensor, Tensor]:
    """Precision, recall and F1 from a confusion matrix, averaged as ``average`` says; per class for
    ``None``."""
    cm = cm.double()
    tp, predicted, actual = cm.diagonal(), cm.sum(0), cm.sum(1)
    if average == "micro":
        tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
    elif average == "binary":
        tp, predicted, actual = tp[1], predicted[1], actual[1]
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), 0.0)
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), 0.0)
    denominator = precision + recall
    f1 = torch.where(denominator > 0, 2 * precision * recall / denominator.clamp(min=1e-300), 0.0)
    if average == "macro":
        return precision.mean(), recall.mean(), f1.mean()
    if average == "weighted":
        weights = actual / actual.sum()
        return (precision * weights).sum(), (recall * weights).sum(), (f1 * weights).sum()
    return precision, recall, f1


@_metric("accuracy", CLASSIFICATION)
def accuracy(labels: Tensor, target: Tensor, **_: Any) -> Tensor:
    return (labels == target).double().mean()


@_metric("precision", CLASSIFICATION)
def precision(labels: Tensor, target: Tensor, n_classes: int, average: str = "macro", **_: Any) -> Tensor:
    return _precision_recall_f1(confusion_matrix(labels, target, n_classes), average)[0]


@_metric("recall", CLASSIFICATION)
def recall(labels: Tensor, target: Tensor, n_classes: int, average: str = "macro", **_: Any) -> Tensor:
    return _precision_recall_f1(confusion_matrix(labels, target, n_classes), average)[1]


@_metric("f1", CLASSIFICATION)
def f1(labels: Tensor, target: Tensor, n_classes: int, average: str = "macro", **_: Any) -> Tensor:
    return _precision_recall_f1(confusion_matrix(labels, target, n_classes), average)[2]


@_metric("auroc", BINARY_ONLY)
def auroc(probabilities: Tensor, target: Tensor, **_: Any) -> Tensor:
    """Mann-Whitney form of the ROC area, ties counted half (as scikit-learn's roc_auc_score)."""
    score = probabilities[:, 1].double()
    _, inverse, counts = torch.unique(score, return_inverse=True, return_counts=True)
    counts = counts.double()
    ranks = (counts.cumsum(0) - (counts - 1) / 2.0)[inverse]  # average 1-based rank of tied scores
    positive = target == 1
    n_pos, n_neg = positive.sum().double(), (~positive).sum().double()
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return torch.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg).clamp(min=1), torch.nan)


@_metric("top_k_accuracy", CLASSIFICATION)
def top_k_accuracy(probabilities: Tensor, target: Tensor, k: int = 5, **_: Any) -> Tensor:
    top = probabilities.topk(min(k, probabilities.shape[1]), dim=1).indices
    return (top == target.unsqueeze(1)).any(1).double().mean()


@_metric("mae", REGRESSION_ONLY)
def mae(values: Tensor, target: Tensor, **_: Any) -> Tensor:
    return (values.double() - target.double()).abs().mean()


@_metric("mse", REGRESSION_ONLY)
def mse(values: Tensor, target: Tensor, **_: Any) -> Tensor:
    return (values.double() - target.double()).pow(2).mean()


@_metric("rmse", REGRESSION_ONLY)
def rmse(values: Tensor, target: Tensor, **_: Any) -> Tensor:
    """Root of each target column's mean squared error, averaged over columns (scikit-learn's way)."""
    squared = (values.double() - target.double()).pow(2)
    return squared.reshape(len(values), -1).mean(0).sqrt().mean()


@_metric("r2", REGRESSION_ONLY)
def r2(values: Tensor, target: Tensor, **_: Any) -> Tensor:
    """Coefficient of determination, averaged uniformly over target columns (scikit-learn's default)."""
    values, target = values.double(), target.double()
    residual = (target - values).pow(2).sum(0)
    total = (target - target.mean(0)).pow(2).sum(0)
    constant = torch.where(residual > 0, 0.0, 1.0).to(residual.dtype)  # a constant column, hit exactly: 1
    return torch.where(total > 0, 1 - residual / total.clamp(min=1e-300), constant).mean()


class MetricSet:
    """The metrics of a run, computed together from one epoch's outputs.

    Args:
        config: ``{name: {option: value}}`` as in ``cfg.metric``.
        loss: the run's loss, which says how outputs become labels, probabilities or values.
        n_classes: number of classes (classifiers).
        target_scale: ``(mean, std)`` per target column when regression targets were standardised;
            regression metrics are then reported in the target's own units.
    """

    def __init__(
        self,
        config: Mapping[str, Mapping[str, Any]],
        loss: Loss,
        n_classes: int = 0,
        target_scale: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        self.config = {name: dict(options or {}) for name, options in config.items()}
        self.loss, self.n_classes, self.target_scale = loss, n_classes, target_scale

    @property
    def names(self) -> list[str]:
        return list(self.config)

    def __call__(self, outputs: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Every metric as a 0-d tensor on the outputs' device (no host synchronisation)."""
        if not self.config:
            return {}
        if self.loss.task == REGRESSION:
            if self.target_scale is not None:
                mean, std = (t.to(outputs.device) for t in self.target_scale)
                outputs, target = outputs * std + mean, target * std + mean
            inputs = {"values": outputs, "target": target}
        else:
            labels = self.loss.labels(outputs)
            target = target.long()
            inputs = {"labels": labels, "target": target, "n_classes": self.n_classes}
            if any(KIND[n] != CLASSIFICATION or n == "top_k_accuracy" for n in self.config):
                inputs["probabilities"] = self.loss.probabilities(outputs)
        return {name: METRICS.get(name)(**inputs, **opts) for name, opts in self.config.items()}


def check_metrics(config: Mapping[str, Mapping[str, Any]], task: str, n_classes: int) -> list[str]:
    """Problems with the chosen metrics for this task (``task``: multiclass, binary or regression)."""
    problems = []
    regression_names = sorted(n for n, k in KIND.items() if k == REGRESSION_ONLY)
    classifier_names = sorted(n for n, k in KIND.items() if k != REGRESSION_ONLY)
    for name, chosen in config.items():
        if name not in KIND:
            problems.append(f"metric={name} is not a metric; choose from {', '.join(sorted(KIND))}")
            continue
        kind = KIND[name]
        if task == REGRESSION and kind != REGRESSION_ONLY:
            problems.append(
                f"metric={name} needs class labels, but the target is continuous (regression); "
                f"use metric=[{','.join(regression_names)}]"
            )
        elif task != REGRESSION and kind == REGRESSION_ONLY:
            usable = [n for n in classifier_names if KIND[n] != BINARY_ONLY or n_classes == 2]
            problems.append(
                f"metric={name} is for regression, but the target has {n_classes} classes; "
                f"use metric=[{','.join(usable)}]"
            )
        elif kind == BINARY_ONLY and n_classes != 2:
            problems.append(f"metric={name} needs a binary target, but the target has {n_classes} classes")
        average = (chosen or {}).get("average")
        if average is not None and average not in AVERAGES:
            problems.append(
                f"metric.{name}.average={average} is not valid; choose from {', '.join(AVERAGES)}"
            )
        elif average == "binary" and n_classes != 2:
            problems.append(f"metric.{name}.average=binary needs 2 classes, the target has {n_classes}")
        k = (chosen or {}).get("k")
        if k is not None and not (isinstance(k, int) and 1 <= k < max(n_classes, 2)):
            problems.append(
                f"metric.{name}.k={k} must be an integer from 1 to {n_classes - 1} for {n_classes} classes"
            )
    return problems


DEFAULT_METRICS = {REGRESSION: ("mae", "r2"), BINARY: ("accuracy",), MULTICLASS: ("accuracy",)}


def metric_names(cfg: Any) -> list[str]:
    """The metrics a run reports: those of ``metric``, or with none given the task's usual ones
    (``accuracy`` for classes, ``mae`` and ``r2`` for regression; the loss decides the task)."""
    if cfg.metric or cfg.loss.get("name") not in LOSSES or LOSSES.check(cfg.loss.name, options(cfg.loss)):
        return [str(m) for m in cfg.metric]
    return list(DEFAULT_METRICS[LOSSES.get(cfg.loss.name)(**options(cfg.loss)).task])
