"""Python values to Hydra override strings for ``mltrain.fit(...)``: the overrides the command would get.

``keyword_overrides({"trainer": {"epochs": 3}, "metric": ["accuracy", "f1"]})`` is
``["trainer.epochs=3", "metric=[accuracy,f1]"]``; ``mltrain.api`` composes the config with them.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

from mltrain.config.catalog import group_choices
from mltrain.errors import ConfigError
from mltrain.rundir import hydra_quoted, unquote


def keyword_overrides(options: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Override strings from keyword arguments: ``{"trainer": {"epochs": 3}}`` -> ``["trainer.epochs=3"]``.

    Strings are quoted for Hydra's grammar only when Hydra would read them otherwise (``"1"``, ``"a,b"``,
    ``"it's"``), so ``.hydra/overrides.yaml`` and the run directory's name read as the command's.
    """
    out: list[str] = []
    for key, value in options.items():
        dotted = f"{prefix}{key}"
        if not isinstance(value, Mapping):
            out.append(f"{dotted}={override_value(value, dotted)}")
            continue
        value = dict(value)
        if not prefix and "name" in value and group_choices(dotted):  # dataset={"name": "csv", ...}
            out.append(f"{dotted}={override_value(value.pop('name'), dotted)}")
        out += keyword_overrides(value, f"{dotted}.")
    return out


def override_value(value: Any, key: str) -> str:
    """One value in Hydra's override grammar: ``None`` -> ``null``, ``[1, "a"]`` -> ``[1,a]``.

    Raises:
        ConfigError: a value no config can hold (an object, a function).
    """
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))  # nan, inf, 1e-05: all in Hydra's grammar
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return value if _reads_back(value) else hydra_quoted(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v, key) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v, f'{key}.{k}')}" for k, v in value.items()) + "}"
    raise ConfigError(
        f"{key}={value!r}: a {type(value).__name__} cannot be a config value; "
        "pass a str, number, bool, None, list or dict"
    )


def _reads_back(text: str) -> bool:
    """Whether Hydra reads ``key=<text>`` unquoted as exactly the string ``text``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        value = OverridesParser.create().parse_override(f"key={text}").value()
    except Exception:  # noqa: BLE001 - Hydra's grammar refused it: quote it
        return False
    return isinstance(value, str) and value == text


def override_string(arg: Any) -> str:
    """A positional override as the command takes it; ``resume=`` paths quoted as ``cli.py`` quotes them."""
    if not isinstance(arg, str):
        raise ConfigError(
            f"{arg!r}: positional arguments are override strings like 'optimizer=nadam'; "
            "pass other values as keywords, e.g. trainer={'epochs': 3}"
        )
    key, eq, value = arg.partition("=")
    if arg.startswith("-") or key.lstrip("+~").split(".")[0].split("/")[0] == "hydra":
        raise ConfigError(
            f"{arg}: mltrain.fit runs one fit without Hydra's runtime; sweeps (-m) and hydra.* settings "
            "are the command's (mltrain fit -m ...); choose the run directory with run_dir="
        )
    if eq and key == "resume" and value not in ("", "null"):  # a path: read exactly as given
        return f"{key}={hydra_quoted(unquote(value))}"
    return arg
