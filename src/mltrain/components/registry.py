"""A registry maps the names users type (``optimizer=nadam``) to builder functions.

Builders take exactly the keys of their YAML file as keyword arguments, so the config and the code stay in
step, and the registry can check a config node against a builder's signature before anything is built.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from omegaconf import DictConfig, OmegaConf

from mltrain.errors import choice_problem, did_you_mean

F = TypeVar("F", bound=Callable[..., Any])
COMMAND_KEYS = ("name", "test_fraction", "numeric")  # read by the command itself, never passed to a builder


class Registry(Generic[F]):
    """Named builders of one config group.

    Args:
        group: the config group's name, used in error messages (``optimizer``).
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self._builders: dict[str, F] = {}

    def register(self, name: str, *aliases: str) -> Callable[[F], F]:
        """Decorator: register ``fn`` under ``name`` and any aliases."""

        def add(fn: F) -> F:
            for key in (name, *aliases):
                if key in self._builders:
                    raise ValueError(f"{self.group} {key!r} is registered twice")
                self._builders[key] = fn
            return fn

        return add

    def names(self) -> list[str]:
        """Every registered name, aliases included, sorted."""
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def get(self, name: str) -> F:
        """The builder registered as ``name``; a ``KeyError`` names the valid choices."""
        if name not in self._builders:
            raise KeyError(choice_problem(self.group, name, self._builders))
        return self._builders[name]

    def check(self, name: str, kwargs: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
        """Problems with calling builder ``name`` with ``kwargs``: unknown or missing keys, wrong types.

        Args:
            name: registered name.
            kwargs: the config node's keys other than ``name``.
            skip: parameters the caller supplies itself (``params``, ``in_features``...).
        """
        if name not in self._builders:
            return [choice_problem(self.group, name, self._builders)]
        params = {
            p.name: p
            for p in inspect.signature(self._builders[name]).parameters.values()
            if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        hints = typing.get_type_hints(self._builders[name])
        problems = []
        for key, value in kwargs.items():
            if key not in params:
                problems.append(
                    f"{self.group}.{key} is not an option of {self.group}={name}; "
                    f"valid: {', '.join(sorted(params)) or 'none'}{did_you_mean(key, params)}"
                )
            elif key in hints and not _matches(value, hints[key]):
                problems.append(
                    f"{self.group}.{key}={value!r} must be {_type_name(hints[key])} for {self.group}={name}"
                )
        for key, p in params.items():
            if p.default is p.empty and key not in kwargs:
                problems.append(f"{self.group}.{key} is required for {self.group}={name}")
        return problems


def _matches(value: Any, hint: Any) -> bool:
    """Whether a config value fits a builder's type hint (ints are accepted where floats are)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, tuple, Sequence):
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value) if args else True
    if origin in (dict, Mapping):
        return isinstance(value, Mapping)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        return f"a list of {_type_name(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return str(hint)


def options(node: DictConfig | dict) -> dict[str, Any]:
    """A group node's builder arguments (keys other than ``COMMAND_KEYS``), as plain values."""
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    return {k: v for k, v in plain.items() if k not in COMMAND_KEYS}
