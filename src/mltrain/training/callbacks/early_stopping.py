"""The run's one best-epoch tracker, which is also Keras' ``EarlyStopping``.

    tracker = EarlyStopping("val_loss", "min", patience=5)     # patience=None: track the best, never stop
    trainer = Trainer(..., callbacks=[tracker, ...])
    tracker.restore(model)                                    # the best epoch's weights, for model.pt

An epoch improves on the best when it beats it by more than ``min_delta``. The best epoch it picks is the
one that ``model.pt``, ``checkpoints/best.pt``, ``summary.json`` and the console all name, and its state
(best value, epoch, weights, patience count) travels in every checkpoint, so a resumed run picks the same.
"""

from __future__ import annotations

from typing import Any

import torch

from mltrain.status import COMPLETED, EARLY_STOPPED
from mltrain.training.callbacks.base import Callback
from mltrain.training.trainer import Trainer


class EarlyStopping(Callback):
    """Tracks the best epoch of ``monitor``; stops the trainer (status ``early_stopped``) after ``patience``
    epochs without improvement.

    Args:
        monitor: the history column watched.
        mode: ``min`` or ``max`` (resolved already; see ``components.directions.direction``).
        patience: epochs without improvement before stopping; ``None`` only tracks the best epoch.
        min_delta: the smallest change that counts as an improvement.
        restore_best: load the best epoch's weights into the model when the fit ends (Keras'
            ``restore_best_weights``); ``model.pt`` holds them either way.
    """

    def __init__(
        self,
        monitor: str,
        mode: str,
        patience: int | None,
        min_delta: float = 0.0,
        restore_best: bool = False,
    ) -> None:
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.min_delta, self.restore_best = abs(min_delta), restore_best
        self.best: float | None = None
        self.best_epoch, self.wait = 0, 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (NaN never does)."""
        if value != value:
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        if self.improved(row.get(self.monitor, float("nan"))):
            self.best, self.best_epoch, self.wait = row[self.monitor], epoch, 0
            self.best_weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience and epoch < trainer.epochs:
            trainer.stop_training = True
            trainer.status = EARLY_STOPPED
            trainer.message = self.story()

    def story(self) -> str:
        """Why the run stopped: ``val_accuracy did not improve for 5 epochs; best 0.97 at epoch 12``."""
        return (
            f"{self.monitor} did not improve for {self.wait} epochs; best {self.best:.6g} at epoch "
            f"{self.best_epoch}"
        )

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and trainer.status in (COMPLETED, EARLY_STOPPED):
            self.restore(trainer.model)

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best epoch's weights into ``model`` (no-op when no epoch had a finite ``monitor``)."""
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors (a checkpoint loads with ``weights_only=True``)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": self.best_weights}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's :meth:`state_dict`."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = state["best_weights"]
