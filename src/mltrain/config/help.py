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
from typing import Any

from mltrain.config.catalog import command_keys, has_groups, primary_config, primary_text

KEY_LINE = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*):\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<comment>.*))?$")


def key_comments(command: str) -> dict[str, tuple[str, str]]:
    """``{key: (default as written, comment)}`` of the top-level keys of ``conf/<command>.yaml``."""
    text = primary_text(command)
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
