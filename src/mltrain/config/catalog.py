"""What the shipped ``conf/`` folder holds, read outside Hydra: the one module that opens its files.

    group_choices("optimizer")        # ["adagrad", "adam", ...]: the YAML file stems of a config group
    choice_config("metric", "f1")     # conf/metric/f1.yaml, unresolved
    command_keys("predict")           # ["run", "input", "output", "id", "chunksize"]
    has_groups("fit")                 # True: fit's --help and completion are Hydra's

Hydra composes the configs of a run; this module answers the questions asked before or beside a
composition: error wording (``messages.py``), a command's own ``--help`` (``help.py``), Tab completion,
the Python API's keyword arguments (``overrides.py``) and the task's default metrics (``checks.py``).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mltrain.config.schemas import SCHEMA_SUFFIX

CONF = "mltrain.conf"  # conf/ installed as a package


def primary_config(command: str) -> DictConfig | None:
    """``conf/<command>.yaml`` as loaded by OmegaConf (unresolved), or ``None`` when there is none."""
    path = files(CONF).joinpath(f"{command}.yaml")
    return OmegaConf.load(str(path)) if path.is_file() else None


def primary_text(command: str) -> str:
    """``conf/<command>.yaml`` as written, comments included."""
    return files(CONF).joinpath(f"{command}.yaml").read_text(encoding="utf-8")


def has_groups(command: str) -> bool:
    """Whether the command's primary config composes config groups (``fit``: optimizer, loss, ...)."""
    primary = primary_config(command)
    defaults = primary.get("defaults", []) if primary is not None else []
    return any(not _own_entry(d) for d in defaults or [])


def _own_entry(entry: Any) -> bool:
    """``_self_`` or the command's schema (``predict_schema``): entries that bring no config group."""
    return isinstance(entry, str) and (entry.startswith("_self_") or entry.endswith(SCHEMA_SUFFIX))


def command_keys(command: str) -> list[str]:
    """The top-level keys of a command's primary config (``conf/<command>.yaml``), Hydra's left out."""
    primary = primary_config(command)
    return [str(k) for k in primary or {} if k not in ("hydra", "defaults")]


def group_choices(group: str) -> list[str]:
    """The choices of a config group: the YAML file stems in ``mltrain.conf/<group>``."""
    folder = files(CONF).joinpath(group)
    return (
        sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")) if folder.is_dir() else []
    )


def choice_config(group: str, name: str) -> DictConfig:
    """``conf/<group>/<name>.yaml``, unresolved."""
    return OmegaConf.load(str(files(CONF).joinpath(group, f"{name}.yaml")))
