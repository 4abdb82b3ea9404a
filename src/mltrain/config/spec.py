"""The run spec: a composed ``fit`` config resolved once into the frozen object every builder takes.

    spec = RunSpec.resolve(cfg)          # after config/checks and config/data_problems found no problem
    spec.loss                            # the Loss, built once (task, head width, target encoding)
    spec.metrics                         # {"accuracy": {}, "f1": {"average": "macro"}}, defaults filled
    spec.tracker                         # the column the best-epoch tracker watches, its direction
    spec.optimizer.name, spec.optimizer.options       # what OPTIMIZERS.get(name)(params, **options) takes

What the config leaves to the run is decided here and nowhere else: a ``val_`` column falls back to its
training twin when there are no validation rows (``val_loss`` -> ``loss``), ``auto`` modes become ``min``
or ``max`` (``components/directions.py``), the metric list gets the task's defaults. A saved run's
``config.yaml`` resolves the same way (``serving/saved_model.py``), so ``evaluate`` rebuilds exactly the
loss, metrics and model ``fit`` trained.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from torch import nn

from mltrain.components.directions import direction
from mltrain.components.losses import LOSSES, Loss
from mltrain.components.metrics import DEFAULT_METRICS
from mltrain.components.models import MODELS, OPTIONAL_INPUTS
from mltrain.components.registry import options
from mltrain.config.schemas import TrainerConfig
from mltrain.files import DamagedFile
from mltrain.trust import check_plain

KFOLD, NO_VALIDATION = "kfold", "none"
GROUPS = ("optimizer", "loss", "dataset", "model", "validation", "scheduler")  # the choices a run records


@dataclass(frozen=True)
class Choice:
    """A config group's choice and its builder's keyword arguments (``name`` and command keys left out)."""

    name: str
    options: Mapping[str, Any]

    @classmethod
    def of(cls, node: Any) -> Choice:
        return cls(str(node.name), MappingProxyType(options(node)))


@dataclass(frozen=True)
class Watch:
    """A history column a callback watches, and which way is better (``min`` or ``max``)."""

    column: str
    mode: str


@dataclass(frozen=True)
class Trainer:
    """``trainer.*`` as plain values (see ``conf/trainer/default.yaml`` for each key)."""

    epochs: int
    batch_size: int
    eval_batch_size: int
    device: str
    num_threads: int | None
    limit_train_batches: int | None
    limit_val_batches: int | None
    grad_clip: float | None
    deterministic: bool
    nproc: int
    compile: bool
    precision: str
    accumulate_grad_batches: int


@dataclass(frozen=True)
class Validation:
    """``validation=split|kfold|none`` with its keys (``None`` where the choice has no such key)."""

    kind: str
    fraction: float | None = None
    k: int | None = None
    shuffle: bool = False


@dataclass(frozen=True)
class Splitting:
    """How a fit cuts its rows into training, validation and test rows (``commands/fit_data.py``)."""

    seed: int
    test_fraction: float | None
    validation: Validation

    @classmethod
    def of(cls, cfg: Any) -> Splitting:
        """From a config holding ``seed``, ``dataset.test_fraction`` and ``validation`` (a fit's, or less)."""
        node = cfg.validation
        validation = Validation(
            str(node.name), node.get("fraction"), node.get("k"), bool(node.get("shuffle", False))
        )
        return cls(int(cfg.seed), cfg.dataset.get("test_fraction"), validation)


@dataclass(frozen=True)
class RunSpec:
    """Everything a fit needs from its config, resolved once (frozen: builders read, never change it).

    Attributes:
        config: the composed config (``config.yaml``'s content; the loggers' hyperparameters), read-only.
        loss: the loss object: it decides the task, the model's head and the target encoding.
        metrics: ``{metric: options}``, the task's default metrics when none were chosen.
        objective: the history column whose best-epoch value is the run's objective.
        tracker: what the best-epoch tracker (and early stopping) watches.
        scheduler: the schedule's choice; ``plateau``'s ``monitor`` is already a history column.
        splitting: the seed, the test split and the validation choice.
        resume: the run directory ``resume=`` names, else ``None``.
    """

    config: DictConfig
    splitting: Splitting
    loss: Loss
    metrics: Mapping[str, Mapping[str, Any]]
    optimizer: Choice
    model: Choice
    scheduler: Choice
    dataset: Choice
    trainer: Trainer
    objective: str
    tracker: Watch
    patience: int | None
    min_delta: float
    restore_best: bool
    resume: str | None

    @classmethod
    def resolve(cls, cfg: DictConfig) -> RunSpec:
        """The spec of a composed, checked ``fit`` config (or a saved run's ``config.yaml``)."""
        splitting = Splitting.of(cfg)
        validation = splitting.validation
        es = cfg.early_stopping
        tracked = watched(es.monitor, validation.kind)
        mode = es.mode if es.mode != "auto" or es.monitor != cfg.objective else cfg.objective_mode
        scheduler = Choice.of(cfg.scheduler)
        if "monitor" in scheduler.options:
            monitor = watched(scheduler.options["monitor"], validation.kind)
            scheduler = Choice(scheduler.name, MappingProxyType({**scheduler.options, "monitor": monitor}))
        loss = Choice.of(cfg.loss)
        built = LOSSES.get(loss.name)(**loss.options)
        chosen = options(cfg.metric) if cfg.metric else dict.fromkeys(DEFAULT_METRICS[built.task], {})
        config = cfg.copy()
        OmegaConf.set_readonly(config, True)
        return cls(
            config=config, splitting=splitting, loss=built,
            metrics=MappingProxyType({str(k): MappingProxyType(dict(v or {})) for k, v in chosen.items()}),
            optimizer=Choice.of(cfg.optimizer), model=Choice.of(cfg.model), scheduler=scheduler,
            dataset=Choice.of(cfg.dataset),
            trainer=Trainer(**{f.name: cfg.trainer.get(f.name, getattr(TrainerConfig, f.name, None))
                               for f in fields(Trainer)}),
            objective=watched(cfg.objective, validation.kind),
            tracker=Watch(tracked, direction(tracked, mode)),
            patience=es.patience, min_delta=float(es.min_delta), restore_best=bool(es.restore_best),
            resume=str(cfg.resume) if cfg.get("resume") else None,
        )  # fmt: skip

    @property
    def seed(self) -> int:
        return self.splitting.seed

    @property
    def validation(self) -> Validation:
        return self.splitting.validation

    @property
    def is_kfold(self) -> bool:
        return self.validation.kind == KFOLD

    @property
    def choices(self) -> dict[str, str]:
        """``{"optimizer": "adam", "loss": ..., ...}``: what ``summary.json`` records of the groups."""
        return {g: str(self.config[g].name) for g in GROUPS}


def saved_config(file: Path) -> DictConfig:
    """A run's saved ``config.yaml`` read as plain data (``trust.py``): an interpolation in it is refused,
    never resolved, so a crafted file cannot read the environment or create directories.

    Raises:
        DataError: the file holds an interpolation.
        DamagedFile: the file is not a mapping.
    """
    data = yaml.safe_load(Path(file).read_text())
    if not isinstance(data, dict):
        raise DamagedFile(f"not a mapping of config keys but {type(data).__name__}")
    check_plain(data, file)
    return OmegaConf.create(data)


def build_model(
    spec: RunSpec,
    n_features: int,
    n_classes: int,
    input_shape: tuple[int, ...] | None,
    n_numeric: int | None = None,
) -> nn.Module:
    """The configured model with the head the loss needs: for a fit's encoded data, or a saved run's
    preprocessing (``serving/saved_model.py``), so both build the very same module. ``task`` and
    ``n_numeric`` (the leading numeric input columns) go to the builders that name them (``model=tabm``)."""
    builder = MODELS.get(spec.model.name)
    takes = inspect.signature(builder).parameters
    extra = {"task": spec.loss.task, "n_numeric": n_numeric}
    return builder(
        in_features=n_features,
        out_features=spec.loss.out_features(n_classes),
        input_shape=input_shape,
        **{k: v for k, v in extra.items() if k in takes and k in OPTIONAL_INPUTS},
        **spec.model.options,
    )


def watched(column: str, validation: str) -> str:
    """The history column a key naming ``column`` watches: without validation rows a ``val_`` column's
    training twin (``val_loss`` -> ``loss``), since no ``val_`` columns are written."""
    return column.removeprefix("val_") if validation == NO_VALIDATION else column
