"""Smith's learning-rate range test (Smith 2017, "Cyclical Learning Rates", section 3.3; as in fastai and
Lightning's ``lr_find``): train for a few steps while the rate grows exponentially, and see where the loss
falls fastest.

    curve = range_test(model, optimizer, loss, train, batch_size=64, steps=100, min_lr=1e-7, max_lr=10)
    curve.suggestion          # the rate at the steepest descent of the smoothed loss

Step ``i`` of ``steps`` trains one batch at ``min_lr * (max_lr / min_lr) ** (i / (steps - 1))``. The loss is
smoothed with a bias-corrected exponential moving average (``smoothing``, 0.9 by default: fastai's 0.98 lags
by about 50 steps, which on a 100-step test moves the steepest point up to 2.5 decades to the right);
the test stops early once the smoothed loss exceeds ``diverge`` times its lowest value (or is not finite).
The suggestion is the rate where the smoothed loss falls fastest per decade of rate: the most negative
slope of smoothed loss against ``log10(lr)`` over the points recorded before the loss blew up.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

from mltrain.components.losses import Loss
from mltrain.training.trainer import Split


@dataclass
class Curve:
    """The rates tried, each step's loss and the smoothed loss; ``stopped_early``: the loss diverged."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def suggestion(self) -> float | None:
        """The rate at the steepest descent of the smoothed loss; ``None`` with fewer than 3 points."""
        index = steepest(self.lrs, self.smoothed)
        return None if index is None else self.lrs[index]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"step": i + 1, "lr": lr, "loss": loss, "smoothed_loss": smooth}
            for i, (lr, loss, smooth) in enumerate(zip(self.lrs, self.losses, self.smoothed, strict=True))
        ]


def rates(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """``steps`` rates from ``min_lr`` to ``max_lr``, evenly spaced on a log scale."""
    if steps == 1:
        return [min_lr]
    return [min_lr * (max_lr / min_lr) ** (i / (steps - 1)) for i in range(steps)]


def steepest(lrs: list[float], smoothed: list[float]) -> int | None:
    """Index of the most negative slope of ``smoothed`` against ``log10(lr)`` (central differences)."""
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if len(finite) < 3:
        return None
    n = finite[-1] + 1
    slope = np.gradient(np.asarray(smoothed[:n], dtype=float), np.log10(np.asarray(lrs[:n], dtype=float)))
    return int(np.nanargmin(slope))


def range_test(
    model: nn.Module,
    optimizer: Optimizer,
    loss: Loss,
    data: Split,
    batch_size: int,
    steps: int,
    min_lr: float,
    max_lr: float,
    generator: torch.Generator,
    smoothing: float = 0.9,
    diverge: float = 4.0,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> Curve:
    """Train ``steps`` batches of ``data`` (reshuffled each pass) at exponentially growing rates.

    The model and the optimizer are left trained: the caller throws them away.
    """
    curve, average, lowest = Curve(), 0.0, math.inf
    model.train()
    order = torch.randperm(len(data), generator=generator).to(data.x.device)
    start = 0
    for i, lr in enumerate(rates(min_lr, max_lr, steps)):
        if start >= len(data):  # a new pass over the rows
            order, start = torch.randperm(len(data), generator=generator).to(data.x.device), 0
        idx = order[start : start + batch_size]
        start += batch_size
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast():
            out = model(data.x[idx])
        value = loss(out.float(), data.y[idx])
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        current = float(value.detach())
        average = smoothing * average + (1 - smoothing) * current
        smooth = average / (1 - smoothing ** (i + 1))
        curve.lrs.append(lr)
        curve.losses.append(current)
        curve.smoothed.append(smooth)
        if not math.isfinite(smooth) or (i > 0 and smooth > diverge * lowest):
            curve.stopped_early = True
            break
        lowest = min(lowest, smooth)
    return curve
