"""Optimizers take torch's fused step where torch has one, and train like torch's default step.

python -m pytest tests/components/test_optimizers.py -q
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from mltrain.components.optimizers import OPTIMIZERS, fused_step

# each registry name and the plain torch optimizer (default step) it must agree with
PLAIN = {
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-8),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01, eps=1e-8),
    "sgd": lambda p: torch.optim.SGD(p, lr=1e-2),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2, initial_accumulator_value=0.1, eps=1e-7),
}
CPU_FUSED = "cpu" in _get_fused_kernels_supported_devices()  # torch >= 2.4


def trained(build: Callable, steps: int = 30) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = build(model.parameters())
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(32, 6, generator=gen), torch.randint(0, 3, (32,), generator=gen)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()], optimizer


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_fused_step_trains_like_the_default_step(name: str) -> None:
    ours, optimizer = trained(OPTIMIZERS.get(name))
    reference, plain = trained(PLAIN[name])

    assert optimizer.param_groups[0]["fused"] is (True if CPU_FUSED else None)
    assert not plain.param_groups[0]["fused"]
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # rounding only
    again, _ = trained(OPTIMIZERS.get(name))
    assert all(torch.equal(a, b) for a, b in zip(ours, again, strict=True))  # same seed, same bits


def test_no_fused_step_where_torch_has_none() -> None:
    assert fused_step([torch.zeros(3, dtype=torch.long)]) == {}  # not floating point
    assert fused_step([torch.zeros(3, device="meta")]) == {}  # no fused kernels for this device
    assert fused_step([]) == {}
    expected = {"fused": True} if CPU_FUSED else {}
    assert fused_step([{"params": [torch.zeros(3)]}]) == expected  # parameter groups too
