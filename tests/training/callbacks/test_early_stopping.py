"""Early stopping against hand-counted histories: when it stops, what it keeps, what it restores.

python -m pytest tests/training/test_early_stopping.py -q
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mltrain.components.directions import direction as objective_direction
from mltrain.status import COMPLETED, EARLY_STOPPED, RUNNING
from mltrain.training.callbacks.early_stopping import EarlyStopping


def fake_trainer(epochs: int = 10) -> SimpleNamespace:
    return SimpleNamespace(
        model=nn.Linear(2, 1), epochs=epochs, stop_training=False, status=RUNNING, message=""
    )


def feed(stopper: EarlyStopping, trainer: SimpleNamespace, values: list[float]) -> int:
    """Epochs seen before the stopper asked to stop (all of them if it never did)."""
    for epoch, value in enumerate(values, start=1):
        stopper.on_epoch_end(trainer, epoch, {"val_loss": value})
        if trainer.stop_training:
            return epoch
    return len(values)


def test_stops_after_patience_epochs_without_improvement() -> None:
    trainer = fake_trainer()
    stopper = EarlyStopping("val_loss", "min", patience=2)

    stopped = feed(stopper, trainer, [1.0, 0.8, 0.9, 0.85, 0.7])

    assert stopped == 4 and trainer.status == EARLY_STOPPED
    assert (stopper.best, stopper.best_epoch) == (0.8, 2)
    assert "val_loss did not improve for 2 epochs" in trainer.message


def test_min_delta_ignores_small_improvements_and_none_patience_never_stops() -> None:
    trainer = fake_trainer()
    assert feed(EarlyStopping("val_loss", "min", 2, min_delta=0.1), trainer, [1.0, 0.95, 0.92, 0.5]) == 3

    trainer = fake_trainer()
    tracker = EarlyStopping("val_loss", "min", None)
    assert feed(tracker, trainer, [1.0, 2.0, 3.0, 4.0, 5.0]) == 5
    assert trainer.status == RUNNING and tracker.best_epoch == 1


def test_max_mode_and_nan_never_improves() -> None:
    stopper = EarlyStopping("val_loss", "max", patience=1)
    trainer = fake_trainer()
    assert feed(stopper, trainer, [0.5, 0.7, float("nan")]) == 3
    assert stopper.best == 0.7


def test_no_early_stop_status_at_the_last_epoch() -> None:
    trainer = fake_trainer(epochs=3)
    feed(EarlyStopping("val_loss", "min", patience=1), trainer, [1.0, 0.5, 0.6])
    assert trainer.status == RUNNING and not trainer.stop_training


@pytest.mark.parametrize(
    ("monitor", "mode", "expected"),
    [("val_loss", "auto", "min"), ("val_accuracy", "auto", "max"), ("f1", "auto", "max"),
     ("val_mae", "auto", "min"), ("val_accuracy", "min", "min")],
)  # fmt: skip
def test_auto_mode_maximises_accuracy_like_columns(monitor: str, mode: str, expected: str) -> None:
    assert objective_direction(monitor, mode) == expected


def test_restore_best_loads_the_best_epochs_weights_at_the_end() -> None:
    trainer = fake_trainer()
    stopper = EarlyStopping("val_loss", "min", patience=5, restore_best=True)
    weights = []
    for epoch, value in enumerate([1.0, 0.5, 0.9], start=1):
        with torch.no_grad():
            trainer.model.weight.fill_(float(epoch))
        weights.append(trainer.model.weight.detach().clone())
        stopper.on_epoch_end(trainer, epoch, {"val_loss": value})
    trainer.status = COMPLETED

    stopper.on_fit_end(trainer)

    assert torch.equal(trainer.model.weight, weights[1])
