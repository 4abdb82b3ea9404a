"""Learning-rate schedules by name (``scheduler=cosine scheduler.eta_min=1e-5``), stepped once per epoch.

Each builder takes the optimizer, the run's epoch count and exactly the keys of
``conf/scheduler/<name>.yaml``, and returns an :class:`EpochScheduler`: the trainer calls
``step(row)`` after each epoch with that epoch's history row (``plateau`` reads its monitored column).
Every schedule takes ``warmup_epochs``: the learning rate rises linearly from ``lr / (warmup_epochs + 1)``
to ``lr`` over those epochs before the schedule itself starts.
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer, lr_scheduler

from mltrain.components.directions import direction
from mltrain.components.registry import Registry
from mltrain.errors import Range, range_problems

SCHEDULERS: Registry = Registry("scheduler")


class EpochScheduler:
    """A torch schedule (or none) behind an optional linear warm-up, stepped once per epoch.

    Args:
        optimizer: whose learning rates are set.
        schedule: the torch scheduler that runs after warm-up, or ``None`` for a constant rate.
        warmup_epochs: epochs of linear warm-up.
        monitor: the history column a ``ReduceLROnPlateau`` schedule watches.
    """

    def __init__(
        self, optimizer: Optimizer, schedule: Any = None, warmup_epochs: int = 0, monitor: str = "loss"
    ) -> None:
        self.optimizer, self.schedule, self.monitor = optimizer, schedule, monitor
        self.warmup_epochs, self.epoch = warmup_epochs, 0
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        if warmup_epochs:
            self._scale(1 / (warmup_epochs + 1))

    def step(self, row: dict[str, float]) -> None:
        """Move to the next epoch's learning rate, given the epoch just finished."""
        self.epoch += 1
        if self.epoch <= self.warmup_epochs:
            self._scale((self.epoch + 1) / (self.warmup_epochs + 1))
        elif isinstance(self.schedule, lr_scheduler.ReduceLROnPlateau):
            self.schedule.step(row[self.monitor])
        elif self.schedule is not None:
            self.schedule.step()

    def state_dict(self) -> dict[str, Any]:
        """Plain values only, so checkpoints load with ``weights_only=True``."""
        inner = self.schedule.state_dict() if self.schedule is not None else {}
        return {"epoch": self.epoch, "base_lrs": list(self.base_lrs), "schedule": inner}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (the optimizer's lrs are restored with the optimizer)."""
        self.epoch, self.base_lrs = state["epoch"], list(state["base_lrs"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])

    def _scale(self, factor: float) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor


@SCHEDULERS.register("none")
def none(optimizer: Optimizer, epochs: int, warmup_epochs: int = 0) -> EpochScheduler:
    return EpochScheduler(optimizer, None, warmup_epochs)


@SCHEDULERS.register("step")
def step(
    optimizer: Optimizer, epochs: int, step_size: int = 10, gamma: float = 0.1, warmup_epochs: int = 0
) -> EpochScheduler:
    return EpochScheduler(optimizer, lr_scheduler.StepLR(optimizer, step_size, gamma), warmup_epochs)


@SCHEDULERS.register("cosine")
def cosine(
    optimizer: Optimizer,
    epochs: int,
    T_max: int | None = None,  # noqa: N803 - torch's name, as users know it
    eta_min: float = 0.0,
    warmup_epochs: int = 0,
) -> EpochScheduler:
    t_max = T_max if T_max is not None else max(1, epochs - warmup_epochs)
    return EpochScheduler(optimizer, lr_scheduler.CosineAnnealingLR(optimizer, t_max, eta_min), warmup_epochs)


@SCHEDULERS.register("plateau")
def plateau(
    optimizer: Optimizer,
    epochs: int,
    monitor: str = "val_loss",
    factor: float = 0.1,
    patience: int = 10,
    mode: str = "auto",
    min_lr: float = 0.0,
    warmup_epochs: int = 0,
) -> EpochScheduler:
    schedule = lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=direction(monitor, mode), factor=factor, patience=patience, min_lr=min_lr
    )
    return EpochScheduler(optimizer, schedule, warmup_epochs, monitor)


RANGES: dict[str, Range] = {  # what torch would reject mid-run (NaN fails every test)
    "warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "step_size": (lambda v: v >= 1, ">= 1"),
    "gamma": (lambda v: v > 0, "> 0"),
    "T_max": (lambda v: v is None or v >= 1, ">= 1 or null (null: trainer.epochs - warmup_epochs)"),
    "eta_min": (lambda v: v >= 0, ">= 0"),
    "factor": (lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    "patience": (lambda v: v >= 0, ">= 0"),
    "min_lr": (lambda v: v >= 0, ">= 0"),
}


def check_scheduler(name: str, kwargs: dict[str, Any]) -> list[str]:
    """Range problems torch would raise mid-run (a zero step, a factor above 1), phrased with config keys;
    every number finite."""
    return range_problems("scheduler.", kwargs, RANGES, f" for scheduler={name}")
