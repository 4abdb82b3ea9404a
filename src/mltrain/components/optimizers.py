"""Optimizers by the names users type: ``optimizer=nadam optimizer.lr=3e-3``.

Each builder takes the model's parameters and exactly the keys of ``conf/optimizer/<name>.yaml``.

Adam, AdamW, SGD and Adagrad take torch's fused step (one kernel per parameter tensor instead of about ten)
wherever torch has it for the parameters' device: the CPU since torch 2.4, and CUDA. On the CPU, Adam's
step on a 20,000-parameter MLP takes about a quarter of the default step's time, which is what makes an
epoch faster than a hand-written loop (``benchmarks/bench_trainer.py``). Each fused step differs from the
default step by float rounding (1 ulp); over many steps the differences compound as any rounding does
(weights about 1e-4 apart after 800 steps, losses equal to 4 decimals). Same seed, same bits, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer

from mltrain.components.registry import Registry
from mltrain.errors import Range, range_problems

OPTIMIZERS: Registry = Registry("optimizer")


def fused_step(params: list[Tensor]) -> dict[str, bool]:
    """``{"fused": True}`` when torch has a fused step for every parameter's device and dtype, else ``{}``."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # the private helper moved: keep torch's default step
        return {}
    devices = _get_fused_kernels_supported_devices()
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    supported = all(t.device.type in devices and torch.is_floating_point(t) for t in tensors)
    return {"fused": True} if tensors and supported else {}


@OPTIMIZERS.register("adam")
def adam(
    params: Iterable[Tensor],
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: list[float] = (0.9, 0.999),
    eps: float = 1e-8,
    amsgrad: bool = False,
) -> Optimizer:
    params = list(params)
    return torch.optim.Adam(
        params, lr=lr, weight_decay=weight_decay, betas=tuple(betas), eps=eps, amsgrad=amsgrad,
        **fused_step(params),
    )  # fmt: skip


@OPTIMIZERS.register("adamw")
def adamw(
    params: Iterable[Tensor],
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    betas: list[float] = (0.9, 0.999),
    eps: float = 1e-8,
    amsgrad: bool = False,
) -> Optimizer:
    params = list(params)
    return torch.optim.AdamW(
        params, lr=lr, weight_decay=weight_decay, betas=tuple(betas), eps=eps, amsgrad=amsgrad,
        **fused_step(params),
    )  # fmt: skip


@OPTIMIZERS.register("sgd")
def sgd(
    params: Iterable[Tensor],
    lr: float = 1e-2,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
) -> Optimizer:
    params = list(params)
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, dampening=dampening,
        **fused_step(params),
    )  # fmt: skip


@OPTIMIZERS.register("rmsprop")
def rmsprop(
    params: Iterable[Tensor],
    lr: float = 1e-3,
    alpha: float = 0.9,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-7,
    centered: bool = False,
) -> Optimizer:
    return torch.optim.RMSprop(
        params, lr=lr, alpha=alpha, momentum=momentum, weight_decay=weight_decay, eps=eps, centered=centered
    )


@OPTIMIZERS.register("nadam")
def nadam(
    params: Iterable[Tensor],
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: list[float] = (0.9, 0.999),
    eps: float = 1e-7,
    momentum_decay: float = 4e-3,
) -> Optimizer:
    return torch.optim.NAdam(
        params, lr=lr, weight_decay=weight_decay, betas=tuple(betas), eps=eps, momentum_decay=momentum_decay
    )


@OPTIMIZERS.register("adagrad")
def adagrad(
    params: Iterable[Tensor],
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> Optimizer:
    params = list(params)
    return torch.optim.Adagrad(
        params, lr=lr, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value,
        eps=eps, **fused_step(params),
    )  # fmt: skip


@OPTIMIZERS.register("adamax")
def adamax(
    params: Iterable[Tensor],
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: list[float] = (0.9, 0.999),
    eps: float = 1e-7,
) -> Optimizer:
    return torch.optim.Adamax(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas), eps=eps)


RANGES: dict[str, Range] = {  # what torch accepts at construction (NaN fails every test)
    "lr": (lambda v: v > 0, "> 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "betas": (lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    "eps": (lambda v: v >= 0, ">= 0"),
    "alpha": (lambda v: v >= 0, ">= 0"),
    "momentum_decay": (lambda v: v >= 0, ">= 0"),
    "initial_accumulator_value": (lambda v: v >= 0, ">= 0"),
}


def check_optimizer(name: str, kwargs: dict) -> list[str]:
    """Range problems the optimizer would only raise at construction, phrased with config keys.

    Every number must be finite: ``optimizer.lr=inf`` would be accepted by torch and diverge at once.
    """
    shown = {k: list(v) if k == "betas" else v for k, v in kwargs.items()}
    problems = range_problems("optimizer.", shown, RANGES)
    if kwargs.get("nesterov") and (kwargs.get("momentum", 0.0) <= 0 or kwargs.get("dampening", 0.0) != 0):
        problems.append(
            f"optimizer.nesterov=true needs optimizer.momentum > 0 and optimizer.dampening=0, "
            f"got momentum={kwargs.get('momentum')}, dampening={kwargs.get('dampening')}"
        )
    return problems
