"""Builders from a run spec (``config/spec.py``) to the objects a training run needs.

Each takes the spec (and what it depends on) and returns one object; registries map the names users
type to classes (``components/``), so "where is nadam?" stays ``components/optimizers.py``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import nn

from mltrain.commands.fit_data import Prepared, target_scale
from mltrain.components.metrics import MetricSet
from mltrain.components.optimizers import OPTIMIZERS
from mltrain.components.schedulers import SCHEDULERS
from mltrain.config.spec import RunSpec, build_model
from mltrain.errors import ConfigError
from mltrain.training import distributed
from mltrain.training.callbacks.early_stopping import EarlyStopping
from mltrain.training.ddp import DistributedTrainer
from mltrain.training.trainer import Trainer


def setup_trainer(
    spec: RunSpec,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    metrics: MetricSet,
    scheduler: Any,
    callbacks: list[Any],
) -> Trainer:
    """The trainer with the ``trainer.*`` settings and the callbacks that write the run's files."""
    t = spec.trainer
    return (DistributedTrainer if distributed.is_distributed() else Trainer)(
        model, optimizer, spec.loss, metrics,
        epochs=t.epochs,
        batch_size=t.batch_size,
        eval_batch_size=t.eval_batch_size,
        callbacks=callbacks,
        generator=torch.Generator().manual_seed(spec.seed),
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        scheduler=scheduler,
        grad_clip=t.grad_clip,
        precision=t.precision,
        accumulate_grad_batches=t.accumulate_grad_batches,
    )  # fmt: skip


def setup_optimizer(spec: RunSpec, model: nn.Module) -> torch.optim.Optimizer:
    """The configured optimizer over the model's parameters."""
    return OPTIMIZERS.get(spec.optimizer.name)(model.parameters(), **spec.optimizer.options)


def setup_scheduler(spec: RunSpec, optimizer: torch.optim.Optimizer) -> Any:
    """The configured learning-rate schedule (``plateau`` watches the column the spec resolved)."""
    return SCHEDULERS.get(spec.scheduler.name)(
        optimizer, epochs=spec.trainer.epochs, **spec.scheduler.options
    )


def setup_metrics(spec: RunSpec, data: Prepared) -> MetricSet:
    """The run's metrics, reported in the target's own units for regression."""
    return MetricSet(spec.metrics, spec.loss, data.n_classes, target_scale(data.preprocessor))


def setup_tracker(spec: RunSpec) -> EarlyStopping:
    """The run's one best-epoch tracker: it picks the epoch of ``model.pt``, ``best.pt`` and the summary,
    and stops the run after ``early_stopping.patience`` epochs without improvement (``null``: never).

    It watches ``early_stopping.monitor`` (by default the ``objective``; without validation rows its
    training twin); ``early_stopping.mode: auto`` follows ``objective_mode`` when it watches the objective.
    """
    return EarlyStopping(
        spec.tracker.column, spec.tracker.mode, spec.patience, spec.min_delta, spec.restore_best
    )


def setup_runtime(spec: RunSpec) -> torch.device:
    """Seed every random source, set torch's threads, and pick the device."""
    random.seed(spec.seed)
    np.random.seed(spec.seed % 2**32)
    torch.manual_seed(spec.seed)
    if spec.trainer.num_threads:
        torch.set_num_threads(spec.trainer.num_threads)
    torch.use_deterministic_algorithms(spec.trainer.deterministic)
    device = distributed.rank_device(resolve_device(spec.trainer.device))
    if spec.trainer.precision == "16-mixed" and device.type != "cuda":
        raise ConfigError(
            f"trainer.precision=16-mixed needs a CUDA device (float16 autocast with a gradient scaler), "
            f"this run is on {device}; use trainer.precision=bf16 or 32"
        )
    return device


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


def setup_model(spec: RunSpec, data: Prepared) -> nn.Module:
    """Build the configured model with the head the loss needs, for the encoded data."""
    pre = data.preprocessor
    return build_model(spec, pre.n_features, data.n_classes, data.input_shape, len(pre.numeric))
