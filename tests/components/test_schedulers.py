"""Learning-rate schedules against closed forms: warm-up, step decay, cosine, plateau.

python -m pytest tests/components/test_schedulers.py -q
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mltrain.components.schedulers import SCHEDULERS

LR = 0.1


def lrs(name: str, epochs: int, rows: list[dict[str, float]] | None = None, **kwargs: object) -> list[float]:
    """The learning rate each epoch trains with."""
    optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=LR)
    schedule = SCHEDULERS.get(name)(optimizer, epochs=epochs, **kwargs)
    seen = []
    for epoch in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step(rows[epoch] if rows else {"loss": 1.0})
    return seen


def test_none_is_constant_and_warmup_is_linear() -> None:
    assert lrs("none", 3) == [LR] * 3
    assert lrs("none", 5, warmup_epochs=3) == pytest.approx([LR / 4, LR / 2, 3 * LR / 4, LR, LR])


def test_step_decays_every_step_size_epochs_after_warmup() -> None:
    assert lrs("step", 6, step_size=2, gamma=0.5) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert lrs("step", 4, step_size=2, gamma=0.5, warmup_epochs=1) == pytest.approx([0.05, 0.1, 0.1, 0.05])


def test_cosine_defaults_t_max_to_the_epochs() -> None:
    expected = [0.01 + (LR - 0.01) * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs("cosine", 4, eta_min=0.01) == pytest.approx(expected)


def test_plateau_decays_when_the_monitored_column_stalls() -> None:
    rows = [{"val_loss": v} for v in (1.0, 0.5, 0.6, 0.7, 0.8)]
    seen = lrs("plateau", 5, rows, monitor="val_loss", factor=0.5, patience=1, mode="min")
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05])  # torch: decays after patience + 1 bad epochs


def test_state_dict_round_trip_continues_the_schedule() -> None:
    optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=LR)
    schedule = SCHEDULERS.get("step")(optimizer, epochs=6, step_size=2, gamma=0.5, warmup_epochs=1)
    for _ in range(3):
        optimizer.step()
        schedule.step({"loss": 1.0})
    saved, opt_saved = schedule.state_dict(), optimizer.state_dict()

    again = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=LR)
    resumed = SCHEDULERS.get("step")(again, epochs=6, step_size=2, gamma=0.5, warmup_epochs=1)
    again.load_state_dict(opt_saved)
    resumed.load_state_dict(saved)
    for _ in range(2):
        again.step(), optimizer.step()
        resumed.step({"loss": 1.0}), schedule.step({"loss": 1.0})
        assert again.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
