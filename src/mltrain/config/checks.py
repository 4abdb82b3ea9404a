"""What the composed ``fit`` config alone says is wrong, and the values every command reads from it.

The schemas (``mltrain.config.schemas``, kept free of torch so ``--help`` and tab completion start fast) are
registered in Hydra's ConfigStore as ``fit_schema`` (the first entry of ``conf/fit.yaml``'s
defaults list), so a typo'd or mistyped key such as ``trainer.epocs=3`` or ``trainer.epochs=abc`` fails at
composition. Group nodes whose keys depend on the choice (optimizer, loss, model, dataset) are checked
against their builder's signature by :func:`validate_config`, with ranges, choices and keys added with
``+key=``; ``data_problems.validate`` adds what depends on the data and raises one error listing all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from mltrain.components.directions import MODES
from mltrain.components.losses import LOSSES, check_loss
from mltrain.components.metrics import history_columns, metric_names
from mltrain.components.models import MODELS, SUPPLIED
from mltrain.components.optimizers import OPTIMIZERS, check_optimizer
from mltrain.components.registry import options
from mltrain.components.schedulers import SCHEDULERS, check_scheduler
from mltrain.config.catalog import choice_config
from mltrain.config.schemas import CheckpointConfig, EarlyStoppingConfig, FitConfig, TrainerConfig
from mltrain.config.spec import watched
from mltrain.data.datasets import DATASETS, check_synthetic
from mltrain.data.preprocessing import NUMERIC_SCALINGS
from mltrain.errors import Range, choice_problem, did_you_mean, range_problems
from mltrain.training.callbacks.loggers import logger_problems
from mltrain.training.trainer import PRECISIONS

VALIDATIONS = ("split", "kfold", "none")
VALIDATION_KEYS = {"split": ("name", "fraction"), "kfold": ("name", "k", "shuffle"), "none": ("name",)}
MISSING_POLICIES = ("error", "drop", "impute")
MAX_SEED = 2**32 - 1  # numpy.random.seed's largest
GRAD_CLIP: Range = (lambda v: v is None or v > 0, "> 0 or null")
ES_RANGES: dict[str, Range] = {
    "patience": (lambda v: v is None or v >= 1, ">= 1 or null"),
    "min_delta": (lambda v: v >= 0, ">= 0"),
}


def fill_default_metrics(cfg: DictConfig) -> None:
    """Put the task's usual metrics in ``metric`` when none were given (see :func:`metric_names`)."""
    if cfg.metric:
        return
    chosen = [choice_config("metric", name) for name in metric_names(cfg)]
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
    problems = _seed_problems(cfg.seed) + _trainer_problems(cfg.trainer) + _component_problems(cfg)
    problems += _objective_problems(cfg)
    problems += logger_problems(cfg)
    problems += _unknown_keys("", cfg, FitConfig.__dataclass_fields__)
    problems += _unknown_keys("trainer.", cfg.trainer, TrainerConfig.__dataclass_fields__)
    problems += _unknown_keys("early_stopping.", cfg.early_stopping, EarlyStoppingConfig.__dataclass_fields__)
    problems += _unknown_keys("checkpoint.", cfg.checkpoint, CheckpointConfig.__dataclass_fields__)
    if cfg.checkpoint.save_top_k < 0:
        problems.append(f"checkpoint.save_top_k must be >= 0 (0 = off), got {cfg.checkpoint.save_top_k}")
    problems += _monitor_problems(cfg)
    return problems + split_problems(cfg)


def _seed_problems(seed: int) -> list[str]:
    """``seed`` seeds Python, NumPy and torch; NumPy's legacy seed takes 0 .. 2**32 - 1, so all three do."""
    if 0 <= seed <= MAX_SEED:
        return []
    return [f"seed must be a whole number from 0 to {MAX_SEED} (2**32 - 1), got {seed}"]


def _trainer_problems(t: DictConfig) -> list[str]:
    """``trainer.*`` ranges (the schema has checked the types) and the device's name."""
    problems = []
    if t.epochs < 1:
        problems.append(f"trainer.epochs must be >= 1, got {t.epochs}")
    for key in ("batch_size", "eval_batch_size", "nproc", "accumulate_grad_batches"):
        if t[key] < 1:
            problems.append(f"trainer.{key} must be >= 1, got {t[key]}")
    for key in ("num_threads", "limit_train_batches", "limit_val_batches"):
        if t[key] is not None and t[key] < 1:
            problems.append(f"trainer.{key} must be >= 1 or null, got {t[key]}")
    problems += range_problems("trainer.", {"grad_clip": t.grad_clip}, {"grad_clip": GRAD_CLIP})
    if t.precision not in PRECISIONS:
        problems.append(choice_problem("trainer.precision", t.precision, PRECISIONS))
    if t.accumulate_grad_batches > 1 and t.nproc > 1:
        problems.append(
            f"trainer.accumulate_grad_batches={t.accumulate_grad_batches} works in one process only, "
            f"got trainer.nproc={t.nproc}; raise trainer.batch_size instead"
        )
    if t.device not in ("auto", "cpu", "mps") and not str(t.device).startswith("cuda"):
        problems.append(choice_problem("trainer.device", t.device, ["auto", "cpu", "cuda", "cuda:N"]))
    return problems


def _component_problems(cfg: DictConfig) -> list[str]:
    """Each group's keys against its builder's signature, then the builder's own checks of the values."""
    problems = []
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
    if cfg.dataset.get("numeric", "standard") not in NUMERIC_SCALINGS:
        problems.append(choice_problem("dataset.numeric", cfg.dataset.numeric, NUMERIC_SCALINGS))
    return problems


def split_problems(cfg: DictConfig) -> list[str]:
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
    if cfg.objective_mode not in MODES:
        problems.append(choice_problem("objective_mode", cfg.objective_mode, MODES))
    columns = objective_columns(cfg)
    if cfg.objective not in columns:
        problems.append(
            f"objective={cfg.objective} is not a history column; valid: {', '.join(columns)}"
            f"{did_you_mean(cfg.objective, columns)}"
        )
    return problems


def _monitor_problems(cfg: DictConfig) -> list[str]:
    """The monitored columns exist in the history, modes are known, patience and min_delta make sense."""
    problems = []
    columns = history_columns(metric_names(cfg), cfg.validation.name != "none")
    es = cfg.early_stopping
    problems += range_problems("early_stopping.", {k: es[k] for k in ES_RANGES}, ES_RANGES)
    nodes = [("early_stopping", es)]
    if cfg.scheduler.get("name") == "plateau":
        nodes.append(("scheduler", cfg.scheduler))
    for key, node in nodes:
        if watched(node.monitor, cfg.validation.name) not in columns:
            problems.append(
                f"{key}.monitor={node.monitor} is not a history column of this run; valid: "
                f"{', '.join(columns)}{did_you_mean(node.monitor, columns)}"
            )
        if node.get("mode") not in MODES:
            problems.append(choice_problem(f"{key}.mode", node.get("mode"), MODES))
    return problems


def _unknown_keys(prefix: str, node: DictConfig, known: Iterable[str]) -> list[str]:
    """Keys added with ``+key=value`` that no code reads: a typo the schema could not catch."""
    known = list(known)
    return [
        f"{prefix}{key} is not a config key; valid: {', '.join(known)}{did_you_mean(key, known)}"
        for key in node
        if key not in known
    ]
