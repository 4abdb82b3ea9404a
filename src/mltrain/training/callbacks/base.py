"""Callbacks: a base class of no-op hooks, and the progress report on the console and in the run's log.

A callback overrides only the hooks it needs; the trainer calls ``on_train_batch_end`` only on callbacks
that override it, so the hot loop pays nothing for the others.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mltrain.training.trainer import Trainer


class Callback:
    """Hooks called by :class:`~mltrain.training.trainer.Trainer`; every one does nothing by default."""

    def on_fit_begin(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Before each epoch (1-based)."""

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        """After each optimizer step (0-based batch index). Keep it cheap: it is in the hot loop."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        """After each epoch, with its history row; set ``trainer.stop_training`` to stop."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch, also when the run stops early, diverges or is interrupted."""


def format_row(row: dict[str, float], epochs: int) -> str:
    """``epoch 3/20  loss 0.1234  accuracy 0.9650  val_loss 0.1100 ...  0.21s``"""
    numbers = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "lr", "time_s"))
    return f"epoch {row['epoch']}/{epochs}  {numbers}  {row['time_s']:.2f}s"


class ProgressCallback(Callback):
    """A Rich progress bar and a line per epoch on a terminal; plain per-epoch lines otherwise (CI logs).

    Rich leaves out colour and the live bar when output is not a terminal, and honours ``NO_COLOR``.
    """

    def __init__(self, console: object | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(file=sys.stdout, highlight=False, emoji=False)
        self.progress = None

    def on_fit_begin(self, trainer: Trainer) -> None:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=trainer.batches_per_epoch, epoch=1, epochs=trainer.epochs
            )

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if self.progress is not None:
            # reset() replaces the task's fields, so both are passed again
            self.progress.reset(
                self.task, total=trainer.batches_per_epoch, epoch=epoch, epochs=trainer.epochs
            )

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        line = format_row(row, trainer.epochs)
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        _to_log_files(line)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _to_log_files(message: str) -> None:
    """Also write ``message`` to the log files (a run's ``fit.log``), not to the console a second time."""
    record = logging.LogRecord("mltrain.epochs", logging.INFO, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)
