"""Config schemas and the one validation step that collects every problem before training starts.

The schemas (``mltrain.schemas``, kept free of torch so ``--help`` and tab completion start fast) are
registered in Hydra's ConfigStore as ``fit_schema`` (the first entry of ``conf/fit.yaml``'s
defaults list), so a typo'd or mistyped key such as ``trainer.epocs=3`` or ``trainer.epochs=abc`` fails at
composition. Group nodes whose keys depend on the choice (optimizer, loss, model, dataset) are checked
against their builder's signature by :func:`validate`, which also checks everything that depends on the
data: ``loss=bce`` on a 10-class target, ``metric=[mae]`` on labels, a feature column that does not exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from mltrain.artifacts.loggers import logger_problems
from mltrain.components.data_checks import column_problems
from mltrain.components.datasets import CLASSES, CONTINUOUS, DATASETS, Table, check_synthetic
from mltrain.components.losses import BINARY, LOSSES, MULTICLASS, REGRESSION, SUGGESTED, check_loss
from mltrain.components.metrics import check_metrics, history_columns
from mltrain.components.models import MODELS, SUPPLIED, check_model
from mltrain.components.optimizers import OPTIMIZERS, check_optimizer
from mltrain.components.preprocessing import describe_target, missing_counts
from mltrain.components.schedulers import SCHEDULERS, check_scheduler
from mltrain.errors import ConfigError, choice_problem, did_you_mean
from mltrain.schemas import OBJECTIVE_MODES, EarlyStoppingConfig, FitConfig, TrainerConfig, register_schemas

__all__ = [
    "FitConfig", "TrainerConfig", "fill_default_metrics", "options", "register_schemas", "validate",
    "validate_config",
]  # fmt: skip

VALIDATIONS = ("split", "kfold", "none")
VALIDATION_KEYS = {"split": ("name", "fraction"), "kfold": ("name", "k", "shuffle"), "none": ("name",)}
COMMAND_KEYS = ("name", "test_fraction")  # read by the command itself, never passed to a builder
MISSING_POLICIES = ("error", "drop", "impute")


def options(node: DictConfig | dict) -> dict[str, Any]:
    """A group node's builder arguments (keys other than ``name`` and ``test_fraction``), as plain values."""
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    return {k: v for k, v in plain.items() if k not in COMMAND_KEYS}


DEFAULT_METRICS = {REGRESSION: ("mae", "r2"), BINARY: ("accuracy",), MULTICLASS: ("accuracy",)}


def metric_names(cfg: DictConfig) -> list[str]:
    """The metrics a run reports: those of ``metric``, or with none given the task's usual ones
    (``accuracy`` for classes, ``mae`` and ``r2`` for regression; the loss decides the task)."""
    if cfg.metric or cfg.loss.get("name") not in LOSSES or LOSSES.check(cfg.loss.name, options(cfg.loss)):
        return [str(m) for m in cfg.metric]
    return list(DEFAULT_METRICS[LOSSES.get(cfg.loss.name)(**options(cfg.loss)).task])


def fill_default_metrics(cfg: DictConfig) -> None:
    """Put the task's usual metrics in ``metric`` when none were given (see :func:`metric_names`)."""
    if cfg.metric:
        return
    from importlib.resources import files

    folder = files("mltrain.conf").joinpath("metric")
    chosen = [OmegaConf.load(str(folder.joinpath(f"{name}.yaml"))) for name in metric_names(cfg)]
    if chosen:
        with open_dict(cfg):
            cfg.metric = OmegaConf.merge(*chosen)


def validate_config(cfg: DictConfig) -> list[str]:
    """Problems visible from the config alone (ranges, unknown keys, choices)."""
    problems = [
        f"{key} is required; set it on the command line, e.g. {key}=..."
        for key in sorted(OmegaConf.missing_keys(cfg))
    ]
    if problems:
        return problems  # builders cannot be checked with required keys unset
    t = cfg.trainer
    if t.epochs < 1:
        problems.append(f"trainer.epochs must be >= 1, got {t.epochs}")
    for key in ("batch_size", "eval_batch_size"):
        if t[key] < 1:
            problems.append(f"trainer.{key} must be >= 1, got {t[key]}")
    if t.nproc < 1:
        problems.append(f"trainer.nproc must be >= 1, got {t.nproc}")
    for key in ("num_threads", "limit_train_batches", "limit_val_batches"):
        if t[key] is not None and t[key] < 1:
            problems.append(f"trainer.{key} must be >= 1 or null, got {t[key]}")
    if t.grad_clip is not None and t.grad_clip <= 0:
        problems.append(f"trainer.grad_clip must be > 0 or null, got {t.grad_clip}")
    if t.device not in ("auto", "cpu", "mps") and not str(t.device).startswith("cuda"):
        problems.append(choice_problem("trainer.device", t.device, ["auto", "cpu", "cuda", "cuda:N"]))

    for registry, node, skip, check in (
        (OPTIMIZERS, cfg.optimizer, ("params",), check_optimizer),
        (LOSSES, cfg.loss, (), check_loss),
        (MODELS, cfg.model, SUPPLIED, None),
        (DATASETS, cfg.dataset, (), None),
        (SCHEDULERS, cfg.scheduler, ("optimizer", "epochs"), check_scheduler),
    ):
        found = registry.check(node.name, options(node), skip)
        problems += found
        if not found and check is not None:
            problems += check(node.name, options(node))
    if not problems and cfg.dataset.name == "synthetic":
        problems += check_synthetic(options(cfg.dataset))
    if cfg.dataset.name == "csv" and cfg.dataset.get("missing") not in MISSING_POLICIES:
        problems.append(choice_problem("dataset.missing", cfg.dataset.missing, MISSING_POLICIES))

    problems += _objective_problems(cfg)
    problems += logger_problems(cfg)
    problems += _unknown_keys("", cfg, FitConfig.__dataclass_fields__)
    problems += _unknown_keys("trainer.", t, TrainerConfig.__dataclass_fields__)
    problems += _unknown_keys("early_stopping.", cfg.early_stopping, EarlyStoppingConfig.__dataclass_fields__)
    problems += _monitor_problems(cfg)
    return problems + _split_problems(cfg)


def _split_problems(cfg: DictConfig) -> list[str]:
    """``validation`` and ``dataset.test_fraction``: known keys, the right types, sensible ranges."""
    v, problems = cfg.validation, []
    if v.name not in VALIDATIONS:
        problems.append(choice_problem("validation", v.name, VALIDATIONS))
    else:
        problems += _unknown_keys("validation.", v, VALIDATION_KEYS[v.name])
    if v.name == "split" and not _is_number(v.get("fraction")):
        problems.append(f"validation.fraction={v.get('fraction')} must be a number between 0 and 1")
    elif v.name == "split" and not 0 < v.fraction < 1:
        problems.append(f"validation.fraction must be between 0 and 1 (exclusive), got {v.fraction}")
    if v.name == "kfold" and not _is_number(v.get("k"), int):
        problems.append(f"validation.k={v.get('k')} must be a whole number >= 2, e.g. validation.k=5")
    elif v.name == "kfold" and v.k < 2:
        problems.append(f"k-fold needs validation.k >= 2, got {v.k}")
    if v.name == "kfold" and not isinstance(v.get("shuffle"), bool):
        problems.append(f"validation.shuffle={v.get('shuffle')} must be true or false")
    test_fraction = cfg.dataset.get("test_fraction")
    if test_fraction is not None and not _is_number(test_fraction):
        problems.append(f"dataset.test_fraction={test_fraction} must be a number in [0, 1) or null")
    elif test_fraction is not None and not 0 <= test_fraction < 1:
        problems.append(f"dataset.test_fraction must be >= 0 and < 1 (or null), got {test_fraction}")
    return problems


def _is_number(value: Any, kind: type | tuple[type, ...] = (int, float)) -> bool:
    """An int (or float) from the config, not a string or a boolean (``True`` is an ``int`` in Python)."""
    return isinstance(value, kind) and not isinstance(value, bool)


def objective_columns(cfg: DictConfig) -> list[str]:
    """The history columns ``objective`` may name: ``loss``, each metric, and their ``val_`` versions."""
    train = ["loss", *metric_names(cfg)]
    return train + [f"val_{c}" for c in train]


def _objective_problems(cfg: DictConfig) -> list[str]:
    problems = []
    if cfg.objective_mode not in OBJECTIVE_MODES:
        problems.append(choice_problem("objective_mode", cfg.objective_mode, OBJECTIVE_MODES))
    columns = objective_columns(cfg)
    if cfg.objective not in columns:
        problems.append(
            f"objective={cfg.objective} is not a history column; valid: {', '.join(columns)}"
            f"{did_you_mean(cfg.objective, columns)}"
        )
    return problems


def monitored(cfg: DictConfig, key: str) -> str:
    """The history column ``key`` (``early_stopping`` or ``scheduler``) watches: without validation rows
    the training twin of a ``val_`` column (``loss`` for ``val_loss``)."""
    monitor = cfg[key].monitor
    return monitor.removeprefix("val_") if cfg.validation.name == "none" else monitor


def _monitor_problems(cfg: DictConfig) -> list[str]:
    """The monitored columns exist in the history, modes are known, patience and min_delta make sense."""
    problems = []
    columns = history_columns(metric_names(cfg), cfg.validation.name != "none")
    es = cfg.early_stopping
    if es.patience is not None and es.patience < 1:
        problems.append(f"early_stopping.patience must be >= 1 or null, got {es.patience}")
    if es.min_delta < 0:
        problems.append(f"early_stopping.min_delta must be >= 0, got {es.min_delta}")
    nodes = [("early_stopping", es)]
    if cfg.scheduler.get("name") == "plateau":
        nodes.append(("scheduler", cfg.scheduler))
    for key, node in nodes:
        if monitored(cfg, key) not in columns:
            problems.append(
                f"{key}.monitor={node.monitor} is not a history column of this run; valid: "
                f"{', '.join(columns)}{did_you_mean(node.monitor, columns)}"
            )
        if node.get("mode") not in OBJECTIVE_MODES:
            problems.append(choice_problem(f"{key}.mode", node.get("mode"), OBJECTIVE_MODES))
    return problems


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
    for column in [data.target, *data.features]:
        if column not in columns:
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
    if data.target in columns and not LOSSES.check(cfg.loss.name, options(cfg.loss)):
        task = LOSSES.get(cfg.loss.name)(**options(cfg.loss)).task
        loss_problems = _loss_fits_target(cfg.loss.name, task, data)
        problems += loss_problems
        if not loss_problems:
            problems += check_metrics(options(cfg.metric), task, describe_target(data).n_classes)
    if not MODELS.check(cfg.model.name, options(cfg.model), SUPPLIED):
        problems += check_model(cfg.model.name, options(cfg.model), data.input_shape)
    if not problems and not LOSSES.check(cfg.loss.name, options(cfg.loss)) and not _split_problems(cfg):
        problems += row_problems(cfg, data)  # the split keys are numbers, the loss can be built
        if cfg.validation.name == "kfold" and not problems:
            problems += _kfold_problems(cfg, data)
    return problems


def _kfold_problems(cfg: DictConfig, data: Table) -> list[str]:
    """``validation.k`` may not exceed the rows, nor (stratified, for classifiers) the rarest class."""
    k, y = cfg.validation.k, data.frame[data.target].dropna()
    rest = len(y) - held_out(len(y), cfg.dataset.get("test_fraction"))
    if k > rest:
        rows = f"{rest} rows" + (" left after dataset.test_fraction" if rest < len(y) else "")
        return [f"validation.k={k} is more than the {rows} of {data.name}; use validation.k <= {rest}"]
    if LOSSES.get(cfg.loss.name)(**options(cfg.loss)).task != REGRESSION:
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


def row_problems(cfg: DictConfig, data: Table) -> list[str]:
    """Enough rows left to train on after the test and validation splits: 2, and a classifier one per class.

    The message blames the key that took the rows: ``dataset.test_fraction``, else ``validation.fraction``.
    """
    used = [*data.features, data.target] if data.missing == "drop" else [data.target]
    n = int(data.frame[used].notna().all(axis=1).sum())
    classifier = LOSSES.get(cfg.loss.name)(**options(cfg.loss)).is_classifier
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


def _unknown_keys(prefix: str, node: DictConfig, known: Iterable[str]) -> list[str]:
    """Keys added with ``+key=value`` that no code reads: a typo the schema could not catch."""
    known = list(known)
    return [
        f"{prefix}{key} is not a config key; valid: {', '.join(known)}{did_you_mean(key, known)}"
        for key in node
        if key not in known
    ]
