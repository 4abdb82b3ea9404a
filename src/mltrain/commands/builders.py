"""Builders from a composed ``fit`` config to the objects a training run needs.

Each takes the config (and what it depends on) and returns one object; registries map the names users
type to classes (``components/``), so "where is nadam?" stays ``components/optimizers.py``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from mltrain.commands.fit_data import Prepared
from mltrain.components.directions import direction
from mltrain.components.losses import Loss
from mltrain.components.metrics import MetricSet
from mltrain.components.models import MODELS
from mltrain.components.registry import options
from mltrain.components.schedulers import SCHEDULERS
from mltrain.config.checks import watched_column
from mltrain.errors import ConfigError
from mltrain.training import distributed
from mltrain.training.callbacks.early_stopping import EarlyStopping
from mltrain.training.ddp import DistributedTrainer
from mltrain.training.trainer import Trainer


def objective_column(cfg: DictConfig) -> str:
    """The history column whose value at the best epoch is the run's (and a sweep's) objective."""
    return watched_column(cfg, cfg.objective)


def setup_trainer(
    cfg: DictConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Loss,
    metrics: MetricSet,
    scheduler: Any,
    callbacks: list[Any],
) -> Trainer:
    """The trainer with the ``trainer.*`` settings and the callbacks that write the run's files."""
    return (DistributedTrainer if distributed.is_distributed() else Trainer)(
        model, optimizer, loss, metrics,
        epochs=cfg.trainer.epochs,
        batch_size=cfg.trainer.batch_size,
        eval_batch_size=cfg.trainer.eval_batch_size,
        callbacks=callbacks,
        generator=torch.Generator().manual_seed(cfg.seed),
        limit_train_batches=cfg.trainer.limit_train_batches,
        limit_val_batches=cfg.trainer.limit_val_batches,
        scheduler=scheduler,
        grad_clip=cfg.trainer.grad_clip,
    )  # fmt: skip


def setup_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer) -> Any:
    """The configured learning-rate schedule; ``plateau`` watches ``loss`` for ``val_loss`` without
    validation rows."""
    kwargs = options(cfg.scheduler)
    if "monitor" in kwargs:
        kwargs["monitor"] = watched_column(cfg, cfg.scheduler.monitor)
    return SCHEDULERS.get(cfg.scheduler.name)(optimizer, epochs=cfg.trainer.epochs, **kwargs)


def setup_tracker(cfg: DictConfig) -> EarlyStopping:
    """The run's one best-epoch tracker: it picks the epoch of ``model.pt``, ``best.pt`` and the summary,
    and stops the run after ``early_stopping.patience`` epochs without improvement (``null``: never).

    It watches ``early_stopping.monitor`` (by default the ``objective``; without validation rows its
    training twin); ``early_stopping.mode: auto`` follows ``objective_mode`` when it watches the objective.
    """
    es = cfg.early_stopping
    monitor = watched_column(cfg, es.monitor)
    mode = es.mode if es.mode != "auto" or es.monitor != cfg.objective else cfg.objective_mode
    return EarlyStopping(monitor, direction(monitor, mode), es.patience, es.min_delta, es.restore_best)


def setup_runtime(cfg: DictConfig) -> torch.device:
    """Seed every random source, set torch's threads, and pick the device."""
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    if cfg.trainer.num_threads:
        torch.set_num_threads(cfg.trainer.num_threads)
    torch.use_deterministic_algorithms(cfg.trainer.deterministic)
    return distributed.rank_device(resolve_device(cfg.trainer.device))


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; asking for an absent CUDA device is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.device={name} but torch sees no CUDA device; use trainer.device=cpu or auto"
        )
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"trainer.device={name} is not a device torch knows: {e}") from e


def setup_model(cfg: DictConfig, data: Prepared, loss: Loss) -> nn.Module:
    """Build the configured model with the head the loss needs."""
    return MODELS.get(cfg.model.name)(
        in_features=data.preprocessor.n_features,
        out_features=loss.out_features(data.n_classes),
        input_shape=data.input_shape,
        **options(cfg.model),
    )
