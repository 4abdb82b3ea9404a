"""``mltrain <command> --help`` for a command whose primary config has no config groups: its own keys.

Hydra's ``--help`` lists every config group in the search path, and the search path holds fit's groups
(optimizer, loss, ...), which ``mltrain evaluate`` never reads. A command whose ``conf/<command>.yaml``
composes no groups (evaluate, predict, and any command added the same way) gets this help instead: the
``hydra.help`` header of its YAML file, each top-level key with its default and the comment it carries
there, and the footer. ``mltrain fit --help`` stays Hydra's.

    text = command_help("evaluate")      # None for fit: Hydra lists its groups
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from mltrain.config.schemas import SCHEMA_SUFFIX

KEY_LINE = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*):\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<comment>.*))?$")


def primary_config(command: str) -> Any | None:
    """``conf/<command>.yaml`` as loaded by OmegaConf (unresolved), or ``None`` when there is none."""
    from omegaconf import OmegaConf

    path = files("mltrain.conf").joinpath(f"{command}.yaml")
    return OmegaConf.load(str(path)) if path.is_file() else None


def has_groups(command: str) -> bool:
    """Whether the command's primary config composes config groups (``fit``: optimizer, loss, ...)."""
    primary = primary_config(command)
    defaults = primary.get("defaults", []) if primary is not None else []
    return any(not _own_entry(d) for d in defaults or [])


def _own_entry(entry: Any) -> bool:
    """``_self_`` or the command's schema (``predict_schema``): entries that bring no config group."""
    return isinstance(entry, str) and (entry.startswith("_self_") or entry.endswith(SCHEMA_SUFFIX))


def key_comments(command: str) -> dict[str, tuple[str, str]]:
    """``{key: (default as written, comment)}`` of the top-level keys of ``conf/<command>.yaml``."""
    from mltrain.config.messages import command_keys

    text = files("mltrain.conf").joinpath(f"{command}.yaml").read_text(encoding="utf-8")
    found = {}
    for line in text.splitlines():
        match = KEY_LINE.match(line)
        if match:
            found[match["key"]] = (match["value"], (match["comment"] or "").strip())
    return {key: found.get(key, ("", "")) for key in command_keys(command)}


def command_help(command: str) -> str | None:
    """The help text of a command without config groups; ``None`` for one with them (Hydra's help)."""
    primary = primary_config(command)
    if primary is None or has_groups(command):
        return None
    about: Any = (primary.get("hydra") or {}).get("help") or {}
    keys = key_comments(command)
    width = max(len(f"{key}={value}") for key, (value, _) in keys.items()) + 2
    lines = [str(about.get("header") or f"mltrain {command}"), ""]
    lines.append("Keys (key=value on the command line; ??? marks a required one):")
    lines += [f"  {f'{key}={value}':<{width}}{comment}".rstrip() for key, (value, comment) in keys.items()]
    footer = str(about.get("footer") or "")
    lines += ["", *([footer] if footer else [])]
    lines.append(f"Hydra's flags (--cfg job, -m, ...): mltrain {command} --hydra-help")
    return "\n".join(lines)
