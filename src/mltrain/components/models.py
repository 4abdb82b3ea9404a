"""Models by name: ``model=mlp model.hidden=[256,128]``, ``model=linear``, ``model=cnn``, ``model=custom``,
``model=tabm`` (tables: an ensemble of MLPs, ``components/ensembles.py``).

Every builder gets ``in_features`` (flat input width), ``out_features`` (head width, set by the loss) and
``input_shape`` (``(C, H, W)`` for image-shaped data, else ``None``), plus its YAML keys. A builder that
names them also gets ``task`` (the loss's: ``multiclass``, ``binary``, ``regression``) and ``n_numeric``
(how many of the leading input columns are scaled numeric columns; the rest are one-hot).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mltrain.components.registry import Registry
from mltrain.errors import ConfigError, choice_problem

MODELS: Registry = Registry("model")
SUPPLIED = ("in_features", "out_features", "input_shape", "task", "n_numeric")  # filled in by the fit command
OPTIONAL_INPUTS = ("task", "n_numeric")  # given only to the builders whose signature names them

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


@MODELS.register("tabm")
def tabm(
    in_features: int,
    out_features: int,
    input_shape: tuple[int, ...] | None = None,
    task: str = "regression",
    n_numeric: int | None = None,
    k: int = 32,
    n_blocks: int | None = None,
    d_block: int = 512,
    dropout: float = 0.1,
    embedding: str = "piecewise",
    n_bins: int = 48,
    d_embedding: int = 16,
    arch: str = "tabm",
) -> nn.Module:
    """TabM: ``k`` weight-sharing MLPs; in training each member's output, in eval mode their mean
    prediction (``components/ensembles.py``). ``n_blocks=None``: TabM's default, 2 with numeric
    embeddings, 3 without."""
    from mltrain.components.ensembles import TabMNet

    n_numeric = in_features if n_numeric is None else n_numeric
    embedded = embedding != "none" and n_numeric > 0
    return TabMNet(
        n_numeric=n_numeric,
        n_other=in_features - n_numeric,
        out_features=out_features,
        task=task,
        k=k,
        n_blocks=n_blocks if n_blocks is not None else 2 if embedded else 3,
        d_block=d_block,
        dropout=dropout,
        embedding=embedding,
        n_bins=n_bins,
        d_embedding=d_embedding,
        arch=arch,
    )


@MODELS.register("custom")
def custom(
    in_features: int,
    out_features: int,
    factory: str,
    input_shape: tuple[int, ...] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Call the user's ``package.module:function`` with the input and output sizes, then check the model.

    Raises:
        ConfigError: naming the factory, when it cannot be imported, raises, returns something other than
            a module with parameters, or builds a model whose output on a batch is not ``(N, out_features)``.
    """
    fn = load_factory(factory)
    try:
        model = fn(in_features=in_features, out_features=out_features, **(kwargs or {}))
    except Exception as e:  # noqa: BLE001 - the user's code: any error is theirs to fix, reported in one line
        raise ConfigError(
            f"model.factory={factory} raised {_error(e)} when called with in_features={in_features}, "
            f"out_features={out_features}{''.join(f', {k}={v!r}' for k, v in (kwargs or {}).items())}"
        ) from e
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.factory={factory} returned {type(model).__name__}, not a torch.nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(
            f"model.factory={factory} returned a {type(model).__name__} module with no trainable "
            "parameters; the optimizer would have nothing to train"
        )
    check_output_shape(model, factory, in_features, out_features)
    return model


def check_output_shape(model: nn.Module, factory: str, in_features: int, out_features: int) -> None:
    """Run two rows of zeros through ``model`` (eval mode, no gradients): the output must be ``(2, out)``."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, in_features))
    except Exception as e:  # noqa: BLE001 - the user's forward: reported in one line
        raise ConfigError(
            f"model.factory={factory}: the model's forward raised {_error(e)} on a batch of shape "
            f"(2, {in_features}) (in_features={in_features})"
        ) from e
    finally:
        model.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, out_features):
        raise ConfigError(
            f"model.factory={factory}: the model maps a batch of shape (2, {in_features}) to {shape}; "
            f"it must return (batch, out_features) = (2, {out_features}) (out_features is set by the loss)"
        )


def _error(e: BaseException) -> str:
    """``ValueError: boom`` on one line."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def compile_in_place(model: nn.Module) -> nn.Module:
    """``trainer.compile=true``: ``torch.compile`` the model's forward; its ``state_dict`` keys stay as they
    are, so checkpoints and ``model.pt`` load without it.

    Not ``model.compile()``: in torch 2.13 that captures nothing when the forward is torch's own, as
    ``nn.Sequential``'s is (pytorch/pytorch#150915), and ``torch.compile(model)`` prefixes the keys.
    """
    model.forward = torch.compile(model.forward)
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
    except Exception as e:  # noqa: BLE001 - an error in the user's module while it is imported
        raise ConfigError(f"model.factory={factory}: importing {module_name!r} raised {_error(e)}") from e
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
    if name == "tabm":
        problems += _tabm_problems(kwargs)
    if name == "cnn" and (input_shape is None or len(input_shape) != 3):
        problems.append("model=cnn needs image-shaped data such as dataset=digits (1x8x8); use model=mlp")
    return problems


def _tabm_problems(kwargs: dict[str, Any]) -> list[str]:
    from mltrain.components.ensembles import ARCHITECTURES, EMBEDDINGS

    problems = []
    for key, low in (("k", 1), ("n_blocks", 1), ("d_block", 1), ("n_bins", 2), ("d_embedding", 1)):
        value = kwargs.get(key)
        if value is not None and value < low:
            problems.append(f"model.{key} must be >= {low}, got {value}")
    for key, choices in (("embedding", EMBEDDINGS), ("arch", ARCHITECTURES)):
        if key in kwargs and kwargs[key] not in choices:
            problems.append(choice_problem(f"model.{key}", kwargs[key], choices))
    return problems
