"""Losses by their Keras names and short aliases. The loss decides the model head and the target encoding.

* ``sparse_categorical_crossentropy`` / ``ce`` and ``categorical_crossentropy``: one logit per class,
  targets are class indices (one-hot encoded inside the loss for the categorical variant).
* ``binary_crossentropy`` / ``bce``: two classes, one logit, targets 0.0 / 1.0.
* ``mean_squared_error`` / ``mse``, ``mean_absolute_error`` / ``mae``, ``huber``: one output per target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mltrain.components.registry import Registry
from mltrain.errors import Range, range_problems

MULTICLASS, BINARY, REGRESSION = "multiclass", "binary", "regression"


@dataclass(frozen=True)
class Loss:
    """A criterion and the task it implies.

    Attributes:
        name: the canonical Keras name (``binary_crossentropy`` for ``bce``).
        task: ``multiclass``, ``binary`` or ``regression``.
        fn: ``fn(outputs, targets) -> mean loss``.
    """

    name: str
    task: str
    fn: Callable[[Tensor, Tensor], Tensor]

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """The mean loss; for an ensemble's training outputs ``(batch, k, out)`` (``model=tabm``), the mean
        of each member's loss, as if each member had its own copy of the batch."""
        if outputs.dim() == 3:
            k = outputs.shape[1]
            return self.fn(outputs.flatten(0, 1), targets.repeat_interleave(k, 0))
        return self.fn(outputs, targets)

    def combined(self, outputs: Tensor) -> Tensor:
        """Raw outputs ``(batch, out)``: an ensemble's ``(batch, k, out)`` as its mean prediction."""
        return mean_prediction(outputs, self.task) if outputs.dim() == 3 else outputs

    @property
    def is_classifier(self) -> bool:
        return self.task != REGRESSION

    def out_features(self, n_classes: int, n_targets: int = 1) -> int:
        """Width of the model's head for this loss."""
        return {MULTICLASS: n_classes, BINARY: 1, REGRESSION: n_targets}[self.task]

    def encode_targets(self, y: Tensor) -> Tensor:
        """Targets as the loss wants them: class indices (int64), 0/1 floats, or float columns."""
        if self.task == MULTICLASS:
            return y.long()
        if self.task == BINARY:
            return y.float()
        return y.float().reshape(len(y), -1)

    def labels(self, outputs: Tensor) -> Tensor:
        """Predicted class indices (classifiers) from the model's raw outputs."""
        return (outputs.squeeze(1) > 0).long() if self.task == BINARY else outputs.argmax(1)

    def probabilities(self, outputs: Tensor) -> Tensor:
        """Class probabilities, one column per class (binary: [P(0), P(1)])."""
        if self.task == BINARY:
            p = torch.sigmoid(outputs.squeeze(1))
            return torch.stack([1 - p, p], dim=1)
        return outputs.softmax(1)


def mean_prediction(members: Tensor, task: str, k: int | None = None) -> Tensor:
    """An ensemble's ``(batch, k, out)`` outputs as one ``(batch, out)`` output of the same kind: the log
    of the mean class probabilities (their softmax is the mean), the logit of the mean probability of
    class 1, or the mean value; computed in log space, so no probability of 0 or 1 overflows."""
    log_k = math.log(k or members.shape[1])  # k given: no Python value from a traced shape
    if task == MULTICLASS:
        return torch.logsumexp(F.log_softmax(members, dim=2), dim=1) - log_k
    if task == BINARY:
        log_p = torch.logsumexp(F.logsigmoid(members), dim=1) - log_k
        log_q = torch.logsumexp(F.logsigmoid(-members), dim=1) - log_k
        return log_p - log_q
    return members.mean(1)


LOSSES: Registry = Registry("loss")


@LOSSES.register("sparse_categorical_crossentropy", "ce")
def sparse_categorical_crossentropy(label_smoothing: float = 0.0) -> Loss:
    def fn(outputs: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(outputs, y, label_smoothing=label_smoothing)

    return Loss("sparse_categorical_crossentropy", MULTICLASS, fn)


@LOSSES.register("categorical_crossentropy")
def categorical_crossentropy(label_smoothing: float = 0.0) -> Loss:
    def fn(outputs: Tensor, y: Tensor) -> Tensor:
        one_hot = F.one_hot(y, outputs.shape[1]).to(outputs.dtype)
        return F.cross_entropy(outputs, one_hot, label_smoothing=label_smoothing)

    return Loss("categorical_crossentropy", MULTICLASS, fn)


@LOSSES.register("binary_crossentropy", "bce")
def binary_crossentropy(pos_weight: float = 1.0) -> Loss:
    weight = None if pos_weight == 1.0 else torch.tensor(pos_weight)

    def fn(outputs: Tensor, y: Tensor) -> Tensor:
        w = None if weight is None else weight.to(outputs.device)
        return F.binary_cross_entropy_with_logits(outputs.squeeze(1), y, pos_weight=w)

    return Loss("binary_crossentropy", BINARY, fn)


@LOSSES.register("mean_squared_error", "mse")
def mean_squared_error() -> Loss:
    return Loss("mean_squared_error", REGRESSION, F.mse_loss)


@LOSSES.register("mean_absolute_error", "mae")
def mean_absolute_error() -> Loss:
    return Loss("mean_absolute_error", REGRESSION, F.l1_loss)


@LOSSES.register("huber")
def huber(delta: float = 1.0) -> Loss:
    def fn(outputs: Tensor, y: Tensor) -> Tensor:
        return F.huber_loss(outputs, y, delta=delta)

    return Loss("huber", REGRESSION, fn)


SUGGESTED = {MULTICLASS: "sparse_categorical_crossentropy", BINARY: "binary_crossentropy",
             REGRESSION: "mean_squared_error"}  # fmt: skip


RANGES: dict[str, Range] = {  # what torch would only reject in the first batch (NaN fails every test)
    "label_smoothing": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "pos_weight": (lambda v: v > 0, "> 0"),
    "delta": (lambda v: v > 0, "> 0"),
}


def check_loss(name: str, kwargs: dict) -> list[str]:
    """Range problems torch would only raise in the first batch, phrased with config keys; every number
    finite."""
    return range_problems("loss.", kwargs, RANGES)
