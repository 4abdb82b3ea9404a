"""Pruning: a sweep trial reports its objective every epoch and stops as soon as the sweeper says so.

    with trial_reporting(reporter):           # launch/optuna_sweeper.py, around one sweep job
        summary = launch_fit(cfg, out_dir)    # fit_rows adds a PruningCallback; status "pruned" if stopped

A ``reporter`` is whatever reaches the trial (an Optuna trial of this process, or one loaded from the
study's storage): ``report(value, epoch)`` and ``should_prune() -> bool``. This module imports no optuna.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from mltrain.status import PRUNED
from mltrain.training.callbacks.base import Callback
from mltrain.training.trainer import Trainer

log = logging.getLogger(__name__)


class TrialReporter(Protocol):
    name: str  # the pruner, for the message: "median pruner"
    plots: bool  # whether the trial's run draws its PNGs (hydra.sweeper.trial_plots)

    def report(self, value: float, epoch: int) -> None: ...

    def should_prune(self) -> bool: ...


_active: list[TrialReporter] = []  # the reporter of the sweep job this process runs, if any


@contextlib.contextmanager
def trial_reporting(reporter: TrialReporter) -> Iterator[None]:
    """While the block runs, a fit in this process reports to ``reporter`` and may be pruned."""
    _active.append(reporter)
    try:
        yield
    finally:
        _active.remove(reporter)


def active_reporter() -> TrialReporter | None:
    return _active[-1] if _active else None


class PruningCallback(Callback):
    """After each epoch: report ``monitor`` to the trial; when the pruner says so, stop with status
    ``pruned`` (the epoch's files are written first: the writers run before this callback)."""

    def __init__(self, reporter: TrialReporter, monitor: str) -> None:
        self.reporter, self.monitor = reporter, monitor

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, Any]) -> None:
        value = row.get(self.monitor)
        if value is None or value != value:  # NaN: the run diverges, which ends it anyway
            return
        self.reporter.report(float(value), epoch)
        if epoch < trainer.epochs and not trainer.stop_training and self.reporter.should_prune():
            trainer.stop_training = True
            trainer.status = PRUNED
            trainer.message = (
                f"the {self.reporter.name} stopped the trial at epoch {epoch} ({self.monitor} {value:.6g})"
            )
            log.info("%s", trainer.message)
