"""What mltrain takes from a run directory it did not necessarily write: the trust model in one place.

A run directory is data. People share them (a colleague's, a downloaded one, a CI artifact), so the
commands that read one (``evaluate``, ``predict``, ``export``, ``monitor``, ``fit resume=``) hold to:

* a saved config is plain data: mltrain writes ``config.yaml`` resolved, so an interpolation left in it
  (``${oc.env:SECRET}``, ``${mltrain_run_dir:...}``) was put there by hand and is refused, never resolved;
* code a run names (``model=custom`` with ``model.factory=package.module:function``) is imported only
  when the user says so for that command, ``trust_code=true``; the refusal names what would be imported;
* ``resume=`` replays the run's own overrides (``.hydra/overrides.yaml``) only for keys the run's own
  config holds, never ``hydra.*`` (Hydra instantiates ``hydra.callbacks``), and never one that names code
  without ``trust_code=true``;
* checkpoints load with ``torch.load(weights_only=True)`` (``training/checkpoints.py``).

    check_plain(data, "runs/fit/x/config.yaml")        # DataError at the first interpolation
    check_code(named_code(config), "run=runs/fit/x", trusted=False)   # ConfigError naming the factory
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mltrain.errors import ConfigError, DataError

INTERPOLATION = "${"  # OmegaConf resolves a string holding this when the value is read
TRUST_KEY = "trust_code"  # the key a command takes to import code a run names
CODE_KEYS = ("model.factory",)  # config keys whose value names code to import (package.module:function)


def check_plain(data: Any, file: object, key: str = "") -> None:
    """Refuse a saved config that holds an interpolation anywhere (a key or a value).

    Raises:
        DataError: naming the file, the key and the text.
    """
    if isinstance(data, Mapping):
        for k, v in data.items():
            check_plain(k, file, key)
            check_plain(v, file, f"{key}.{k}" if key else str(k))
    elif isinstance(data, list | tuple):
        for i, v in enumerate(data):
            check_plain(v, file, f"{key}[{i}]")
    elif isinstance(data, str) and INTERPOLATION in data:
        raise DataError(
            f"{file}: {key or 'a key'} holds the interpolation {data!r}; mltrain writes saved configs "
            "resolved, so this file was edited by hand and is not read (nothing in it is resolved)"
        )


def named_code(config: Mapping[str, Any]) -> list[str]:
    """``["model.factory=pkg.mod:fn"]``: the code a config (plain data) would have mltrain import."""
    found = []
    for dotted in CODE_KEYS:
        node: Any = config
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node:
            found.append(f"{dotted}={node}")
    return found


def check_code(code: Iterable[str], where: str, trusted: bool) -> None:
    """Refuse to import code a run names unless the user passed ``trust_code=true``.

    Raises:
        ConfigError: naming what would be imported and how to allow it.
    """
    code = list(code)
    if code and not trusted:
        raise ConfigError(
            f"{where} names code to import: {', '.join(code)}; a run directory is data, so mltrain imports "
            f"it only when you say so: add {TRUST_KEY}=true (only for runs you trust)"
        )


def replayable(override: str, saved_keys: set[str]) -> bool:
    """Whether ``resume=`` may replay a saved override: its top-level key is one the run's config holds,
    and it is not Hydra's (``hydra.*``, ``hydra/...``)."""
    key = override.lstrip("+~").partition("=")[0]
    top = key.split("/")[0].split(".")[0]
    return top != "hydra" and top in saved_keys
