"""The console progress report: a live bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import torch
from rich.console import Console
from torch import nn

from mltrain.components.losses import LOSSES
from mltrain.components.metrics import MetricSet
from mltrain.training.callbacks.base import ProgressCallback
from mltrain.training.trainer import Split, Trainer


def fit_with_progress(console: Console, epochs: int = 3) -> None:
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    model = nn.Linear(4, 3)
    loss = LOSSES.get("ce")()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), loss, MetricSet({"accuracy": {}}, loss, 3),
        epochs=epochs, batch_size=8, callbacks=[ProgressCallback(console)],
    )  # fmt: skip
    trainer.fit(Split(x, y), Split(x[:10], y[:10]))


def test_terminal_shows_a_bar_and_a_line_per_epoch() -> None:
    out = io.StringIO()
    fit_with_progress(Console(file=out, force_terminal=True, width=120), epochs=3)
    text = out.getvalue()
    assert "\x1b[" in text  # the live bar draws with control codes
    for epoch in (1, 2, 3):
        assert f"epoch {epoch}/3  loss" in text


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    fit_with_progress(Console(file=out, force_terminal=False, width=40), epochs=2)
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "\x1b[" not in out.getvalue() and all(line.endswith("s") for line in lines)  # no wrapping at 40
