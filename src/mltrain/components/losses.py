"""Losses by their Keras names and short aliases. The loss decides the model head and the target encoding.

* ``sparse_categorical_crossentropy`` / ``ce`` and ``categorical_crossentropy``: one logit per class,
  targets are class indices (one-hot encoded inside the loss for the categorical variant).
* ``binary_crossentropy`` / ``bce``: two classes, one logit, targets 0.0 / 1.0.
* ``mean_squared_error`` / ``mse``, ``mean_absolute_error`` / ``mae``, ``huber``: one output per target.

``class_weight`` (the three classification losses): ``balanced`` (scikit-learn's ``n_rows / (n_classes *
rows_of_class)``, counted on the training rows), a list in class order, or a mapping by class name (classes
left out weigh 1). It is resolved against the data by :func:`resolve_class_weights`; each row's loss is then
multiplied by its class's weight and the rows averaged (Keras' ``class_weight``), so batches, accumulation
windows and ranks still combine as plain means. For ``binary_crossentropy`` it sets ``pos_weight`` to
``w[1] / w[0]``: the same optimum, the loss divided by ``w[0]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mltrain.components.registry import Registry
from mltrain.errors import ConfigError, Range, range_problems

MULTICLASS, BINARY, REGRESSION = "multiclass", "binary", "regression"


@dataclass(frozen=True)
class Loss:
    """A criterion and the task it implies.

    Attributes:
        name: the canonical Keras name (``binary_crossentropy`` for ``bce``).
        task: ``multiclass``, ``binary`` or ``regression``.
        fn: ``fn(outputs, targets) -> mean loss``; a classification loss's also takes ``weight`` (per class).
        class_weight: what ``loss.class_weight`` asked for: ``None``, ``"balanced"``, a list or a mapping.
        weights: the resolved per-class weights in class order (:meth:`weighted`); ``None``: unweighted.
    """

    name: str
    task: str
    fn: Callable[..., Tensor]
    class_weight: Any = None
    weights: tuple[float, ...] | None = None

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """The mean loss (with the class weights, when set); for an ensemble's training outputs
        ``(batch, k, out)`` (``model=tabm``), the mean of each member's loss, as if each member had its own
        copy of the batch."""
        if outputs.dim() == 3:
            k = outputs.shape[1]
            outputs, targets = outputs.flatten(0, 1), targets.repeat_interleave(k, 0)
        if self.weights is None:
            return self.fn(outputs, targets)
        return self.fn(outputs, targets, _on_device(self.weights, outputs.device))

    def weighted(self, weights: Sequence[float] | None) -> Loss:
        """This loss with per-class ``weights`` (class order); ``None`` leaves it unweighted."""
        return replace(self, weights=None if weights is None else tuple(float(w) for w in weights))

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
def sparse_categorical_crossentropy(label_smoothing: float = 0.0, class_weight: Any = None) -> Loss:
    def fn(outputs: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
        if weight is None:
            return F.cross_entropy(outputs, y, label_smoothing=label_smoothing)
        rows = F.cross_entropy(outputs, y, weight=weight, label_smoothing=label_smoothing, reduction="none")
        return rows.mean()  # each row's loss times its class's weight, averaged over rows

    return Loss("sparse_categorical_crossentropy", MULTICLASS, fn, class_weight)


@LOSSES.register("categorical_crossentropy")
def categorical_crossentropy(label_smoothing: float = 0.0, class_weight: Any = None) -> Loss:
    def fn(outputs: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
        one_hot = F.one_hot(y, outputs.shape[1]).to(outputs.dtype)
        return F.cross_entropy(outputs, one_hot, weight=weight, label_smoothing=label_smoothing)

    return Loss("categorical_crossentropy", MULTICLASS, fn, class_weight)


@LOSSES.register("binary_crossentropy", "bce")
def binary_crossentropy(pos_weight: float = 1.0, class_weight: Any = None) -> Loss:
    configured = None if pos_weight == 1.0 else torch.tensor(pos_weight)

    def fn(outputs: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
        if weight is not None:  # class weights [w0, w1]: pos_weight w1 / w0
            w = weight[1] / weight[0]
        else:
            w = None if configured is None else configured.to(outputs.device)
        return F.binary_cross_entropy_with_logits(outputs.squeeze(1), y, pos_weight=w)

    return Loss("binary_crossentropy", BINARY, fn, class_weight)


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
    finite; ``class_weight``'s form (its names and length need the data: :func:`resolve_class_weights`)."""
    weights = kwargs.get("class_weight")
    problems = range_problems("loss.", {k: v for k, v in kwargs.items() if k != "class_weight"}, RANGES)
    if weights is None:
        return problems
    form = "balanced, a list of weights in class order ([1,5]) or a mapping by class ({yes:5})"
    values = list(weights.values()) if isinstance(weights, Mapping) else weights
    if isinstance(weights, str):
        if weights != "balanced":
            problems.append(f"loss.class_weight={weights} is not valid; use {form}")
    elif not isinstance(values, Sequence) or not values or not all(_positive(v) for v in values):
        problems.append(f"loss.class_weight={weights} must be {form}, each weight a finite number > 0")
    if kwargs.get("pos_weight", 1.0) != 1.0:
        problems.append("loss.pos_weight and loss.class_weight both weight the classes; set only one")
    return problems


def _positive(value: Any) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value) and value > 0


def resolve_class_weights(loss: Loss, codes: np.ndarray, classes: Sequence[Any]) -> tuple[float, ...] | None:
    """``loss.class_weight`` as one weight per class (class order), for training rows' class ``codes``.

    Raises:
        ConfigError: a list of the wrong length, a class name the data does not have, or ``balanced`` with
            a class absent from the training rows.
    """
    request, k = loss.class_weight, len(classes)
    if request is None:
        return None
    names = ", ".join(map(str, classes))
    if request == "balanced":  # sklearn.utils.class_weight.compute_class_weight("balanced", ...)
        counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=k)
        if (counts == 0).any():
            absent = [str(c) for c, n in zip(classes, counts, strict=True) if n == 0]
            raise ConfigError(f"loss.class_weight=balanced: class {', '.join(absent)} has no training rows")
        return tuple(float(len(codes) / (k * n)) for n in counts)
    if isinstance(request, Mapping):
        by_name = {str(c): i for i, c in enumerate(classes)}
        unknown = [str(key) for key in request if str(key) not in by_name]
        if unknown:
            raise ConfigError(
                f"loss.class_weight names class {', '.join(unknown)}, which the data does not have; "
                f"its classes: {names}"
            )
        weights = [1.0] * k
        for key, value in request.items():
            weights[by_name[str(key)]] = float(value)
        return tuple(weights)
    if len(request) != k:
        raise ConfigError(
            f"loss.class_weight has {len(request)} weights but the data has {k} classes ({names}, in that "
            "order); give one weight per class, or a mapping by class name"
        )
    return tuple(float(v) for v in request)


@functools.lru_cache(maxsize=8)
def _on_device(weights: tuple[float, ...], device: torch.device) -> Tensor:
    """The weights as a float32 tensor on ``device``, made once (a loss is called every batch)."""
    return torch.tensor(weights, dtype=torch.float32, device=device)
