"""The config checked against the loaded data, with the config's own checks: one error listing every problem.

    validate(cfg, table)            # raises ConfigError naming each key, its value and what to use

What needs the data: the target and feature columns exist, missing values are allowed, the loss fits the
target (``loss=bce`` on a 10-class target), the metrics fit the task (``metric=[mae]`` on labels), the model
fits the features, and enough rows are left to train on after the test and validation splits. What the
config alone decides is checked by ``config.validate_config``.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig

from mltrain.components.losses import BINARY, LOSSES, MULTICLASS, REGRESSION, SUGGESTED, Loss
from mltrain.components.metrics import check_metrics
from mltrain.components.models import MODELS, SUPPLIED, check_model
from mltrain.components.registry import options
from mltrain.config.checks import split_problems, validate_config
from mltrain.data.checks import column_problems
from mltrain.data.columns import missing_columns
from mltrain.data.datasets import CLASSES, CONTINUOUS, Table
from mltrain.data.preprocessing import describe_target, missing_counts
from mltrain.errors import ConfigError


def validate(cfg: DictConfig, data: Table | None, problems: list[str] | None = None) -> None:
    """Check the config against itself and against the data; raise one ``ConfigError`` listing all.

    Args:
        cfg: the composed ``fit`` config.
        data: the loaded, not yet encoded, dataset; ``None`` when it could not be loaded.
        problems: problems found already (a dataset that failed to load), reported with the rest.

    Raises:
        ConfigError: with every problem found, each naming the key, the bad value and what to use.
    """
    problems = list(problems or []) + validate_config(cfg)
    if data is not None:
        problems += _data_problems(cfg, data)
    if problems:
        raise ConfigError(problems)


def _data_problems(cfg: DictConfig, data: Table) -> list[str]:
    """Columns, missing values, and whether the loss, metrics and model fit the target and features."""
    problems = []
    columns = list(data.frame.columns)
    for column in missing_columns(data.frame, [data.target, *data.features]):
        key = "dataset.target" if column == data.target else "dataset.features"
        shown = ", ".join(map(str, columns[:20])) + (", ..." if len(columns) > 20 else "")
        problems.append(f"{key}: column {column!r} is not in {data.name}; columns: {shown}")
    if data.target in data.features:
        problems.append(f"dataset.features includes the target column {data.target!r}")
    if not problems:
        problems += column_problems(data)
    missing = missing_counts(data)
    if missing and data.missing == "error":
        counts = ", ".join(f"{c!r} ({n} rows)" for c, n in missing.items())
        problems.append(
            f"{data.name} has missing values in {counts}; set dataset.missing=drop or dataset.missing=impute"
        )
    loss = (
        None
        if LOSSES.check(cfg.loss.name, options(cfg.loss))
        else LOSSES.get(cfg.loss.name)(**options(cfg.loss))
    )
    if data.target in columns and loss is not None:
        loss_problems = _loss_fits_target(cfg.loss.name, loss.task, data)
        problems += loss_problems
        if not loss_problems:
            problems += check_metrics(options(cfg.metric), loss.task, describe_target(data).n_classes)
    if not MODELS.check(cfg.model.name, options(cfg.model), SUPPLIED):
        problems += check_model(cfg.model.name, options(cfg.model), data.input_shape)
    if not problems and loss is not None and not split_problems(cfg):
        problems += row_problems(cfg, data, loss)  # the split keys are numbers, the loss is built
        if cfg.validation.name == "kfold" and not problems:
            problems += _kfold_problems(cfg, data, loss)
    return problems


def _kfold_problems(cfg: DictConfig, data: Table, loss: Loss) -> list[str]:
    """``validation.k`` may not exceed the rows, nor (stratified, for classifiers) the rarest class."""
    k, y = cfg.validation.k, data.frame[data.target].dropna()
    rest = len(y) - held_out(len(y), cfg.dataset.get("test_fraction"))
    if k > rest:
        rows = f"{rest} rows" + (" left after dataset.test_fraction" if rest < len(y) else "")
        return [f"validation.k={k} is more than the {rows} of {data.name}; use validation.k <= {rest}"]
    if loss.task != REGRESSION:
        counts = y.value_counts()
        counts = counts.groupby(counts.index.astype(str)).sum()  # per label text, not a string per row
        if k > counts.min():
            return [
                f"validation.k={k} is more than the {counts.min()} rows of the rarest class "
                f"{counts.idxmin()!r} (stratified k-fold); use validation.k <= {counts.min()}"
            ]
    return []


def held_out(n: int, fraction: float | None) -> int:
    """Rows ``dataset.test_fraction`` holds out of ``n``: ``ceil(fraction * n)``, as the split does."""
    return math.ceil(fraction * n) if fraction else 0


def row_problems(cfg: DictConfig, data: Table, loss: Loss) -> list[str]:
    """Enough rows left to train on after the test and validation splits: 2, and a classifier one per class.

    The message blames the key that took the rows: ``dataset.test_fraction``, else ``validation.fraction``.
    """
    used = [*data.features, data.target] if data.missing == "drop" else [data.target]
    n = int(data.frame[used].notna().all(axis=1).sum())
    classifier = loss.is_classifier
    need = max(2, describe_target(data).n_classes if classifier else 0)
    v, fraction = cfg.validation, cfg.dataset.get("test_fraction") or 0

    def training(rest: int) -> int:
        if v.name == "split":
            return rest - math.ceil(v.fraction * rest)
        return rest - math.ceil(rest / v.k) if v.name == "kfold" else rest

    test = held_out(n, fraction)
    train = training(n - test)
    if train >= need:
        return []
    needs = f"a run needs at least {need}" + (" (one per class)" if need > 2 else "")
    if test and training(n) >= need:
        return [
            f"dataset.test_fraction={fraction} holds out {test} of the {n} rows of {data.name}, leaving "
            f"{train} to train on; {needs}; use a smaller dataset.test_fraction"
        ]
    if v.name == "split" and n - test >= need:
        return [
            f"validation.fraction={v.fraction} leaves {train} training row(s) of {n - test}; {needs}; "
            "use a smaller validation.fraction"
        ]
    return [f"{data.name} has {n} usable rows, {train} of them to train on; {needs}"]


def _loss_fits_target(name: str, task: str, data: Table) -> list[str]:
    target = describe_target(data)
    column = f"column {data.target!r} of {data.name}" if data.target_kind is None else data.name
    if task == REGRESSION and target.kind == CLASSES:
        what = (
            f"holds labels ({target.example}, ...)"
            if not target.is_numeric
            else f"has {target.n_classes} classes"
        )
        suggestion = SUGGESTED[BINARY if target.n_classes == 2 else MULTICLASS]
        return [f"loss={name} needs a numeric regression target, {column} {what}; use loss={suggestion}"]
    if task != REGRESSION and target.kind == CONTINUOUS:
        return [
            f"loss={name} needs class labels, {column} is continuous ({target.n_classes} distinct values); "
            f"use loss={SUGGESTED[REGRESSION]}"
        ]
    if task == BINARY and target.n_classes != 2:
        return [
            f"loss={name} needs a binary target, {column} has {target.n_classes} classes; "
            f"use loss={SUGGESTED[MULTICLASS]}"
        ]
    if task != REGRESSION and target.n_classes < 2:
        return [f"loss={name} needs at least 2 classes, {column} has {target.n_classes}"]
    return []
