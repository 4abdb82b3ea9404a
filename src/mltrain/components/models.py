"""Models by name: ``model=mlp model.hidden=[256,128]``, ``model=linear``, ``model=cnn``, ``model=custom``.

Every builder gets ``in_features`` (flat input width), ``out_features`` (head width, set by the loss) and
``input_shape`` (``(C, H, W)`` for image-shaped data, else ``None``), plus its YAML keys.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from torch import nn

from mltrain.components.registry import Registry
from mltrain.errors import ConfigError, choice_problem

MODELS: Registry = Registry("model")
SUPPLIED = ("in_features", "out_features", "input_shape")  # filled in by the fit command

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "selu": nn.SELU,
}


@MODELS.register("linear")
def linear(in_features: int, out_features: int, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    return nn.Linear(in_features, out_features)


@MODELS.register("mlp")
def mlp(
    in_features: int,
    out_features: int,
    input_shape: tuple[int, ...] | None = None,
    hidden: list[int] = (128, 128),
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Module:
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


@MODELS.register("cnn")
def cnn(
    in_features: int,
    out_features: int,
    input_shape: tuple[int, ...] | None = None,
    channels: list[int] = (32, 64),
    hidden: int = 128,
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Module:
    """3x3 convolutions, each followed by the activation and a 2x2 max-pool, then a dense layer."""
    if input_shape is None or len(input_shape) != 3:
        raise ConfigError("model=cnn needs image-shaped data (C, H, W), e.g. dataset=digits")
    in_channels, height, width = input_shape
    layers: list[nn.Module] = [nn.Unflatten(1, tuple(input_shape))]
    for out_channels in channels:
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), ACTIVATIONS[activation]()]
        if height >= 2 and width >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        in_channels = out_channels
    layers += [nn.Flatten(), nn.Linear(in_channels * height * width, hidden), ACTIVATIONS[activation]()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, out_features))
    return nn.Sequential(*layers)


@MODELS.register("custom")
def custom(
    in_features: int,
    out_features: int,
    factory: str,
    input_shape: tuple[int, ...] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Call the user's ``package.module:function`` with the input and output sizes."""
    fn = load_factory(factory)
    model = fn(in_features=in_features, out_features=out_features, **(kwargs or {}))
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.factory={factory} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_factory(factory: str) -> Callable[..., Any]:
    """Import ``package.module:function``; a ``ConfigError`` says what could not be found."""
    module_name, _, attr = factory.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"model.factory={factory} must look like package.module:function")
    if os.getcwd() not in sys.path:  # the console script's sys.path lacks the directory the user is in
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"model.factory={factory}: cannot import module {module_name!r} ({e})") from e
    if not callable(getattr(module, attr, None)):
        raise ConfigError(f"model.factory={factory}: module {module_name!r} has no function {attr!r}")
    return getattr(module, attr)


def check_model(name: str, kwargs: dict[str, Any], input_shape: tuple[int, ...] | None) -> list[str]:
    """Range problems of a model config, phrased with config keys."""
    problems = []
    hidden = kwargs.get("hidden")
    sizes = hidden if isinstance(hidden, (list, tuple)) else [hidden] if hidden is not None else []
    for key, values in (("hidden", sizes), ("channels", kwargs.get("channels") or [])):
        if any(v < 1 for v in values):
            problems.append(f"model.{key}={list(values)} must hold sizes >= 1")
    if "activation" in kwargs and kwargs["activation"] not in ACTIVATIONS:
        problems.append(choice_problem("model.activation", kwargs["activation"], ACTIVATIONS))
    if not 0 <= kwargs.get("dropout", 0.0) < 1:
        problems.append(f"model.dropout must be in [0, 1), got {kwargs['dropout']}")
    if name == "cnn" and (input_shape is None or len(input_shape) != 3):
        problems.append("model=cnn needs image-shaped data such as dataset=digits (1x8x8); use model=mlp")
    return problems
