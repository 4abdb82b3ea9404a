"""Tab completion through the subcommand: ``mltrain f<TAB>``, ``mltrain fit optimizer=<TAB>``,
``mltrain evaluate <TAB>`` (``run= input= max_drop=``), ``mltrain evaluate run=runs/fit/<TAB>``,
``mltrain report --<TAB>``.

Hydra's completion scripts call ``mltrain -sc query=bash`` with the typed line in ``COMP_LINE``. ``fit``
(a command that composes config groups) is Hydra's to answer: it expects no subcommand in the line, so
the dispatcher strips it first. Every other command is answered here (:func:`answer`): the keys of its
primary config (``conf/<command>.yaml``) and paths after ``key=``; ``report``'s flags and directories.
A new command with its own ``conf/<command>.yaml`` is completed with no change here.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path


def is_query() -> bool:
    """Whether this process answers a completion query."""
    return bool(os.environ.get("COMP_LINE")) and any(a.startswith("query=") for a in sys.argv)


def strip_command(command: str) -> None:
    """``COMP_LINE="mltrain fit optimizer="`` becomes ``"mltrain optimizer="`` for Hydra."""
    line = os.environ.get("COMP_LINE")
    if line and is_query():
        os.environ["COMP_LINE"] = re.sub(rf"^(\s*\S+)\s+{re.escape(command)}(\s|$)", r"\1\2", line, count=1)


def command_names(commands: Iterable[str]) -> list[str] | None:
    """The subcommands matching ``mltrain f<TAB>``, or ``None`` when the query is about something else.

    A query about a subcommand's own words has the subcommand stripped from ``COMP_LINE`` on the way.
    """
    if not is_query():
        return None
    line = os.environ["COMP_LINE"]
    words = line.split()
    first_word = line.endswith(" ") and len(words) == 1
    typing_first = not line.endswith(" ") and len(words) == 2 and "=" not in words[1]
    if first_word or typing_first:
        prefix = "" if line.endswith(" ") else words[1]
        return [c for c in commands if c.startswith(prefix)]
    if len(words) > 1 and words[1] in commands:
        strip_command(words[1])
    return None


def answer(commands: Iterable[str]) -> str | None:
    """The completions mltrain gives itself, as the shell script wants them; ``None``: Hydra answers.

    Subcommand names, and the words of every command but those composing config groups (``fit``): the
    keys of its primary config, or the options of a command parsed by argparse (``parser()`` in its
    module, for a command with no ``conf/<command>.yaml``).
    """
    if not is_query():
        return None
    # conf/ is read through OmegaConf only for a query: importing it costs every command 0.2 s (measured)
    from mltrain.config.catalog import has_groups, primary_config

    commands = list(commands)
    words = os.environ["COMP_LINE"].split()
    typed_line = os.environ["COMP_LINE"]
    names = command_names(commands)
    if names is not None:
        return _joined(names)
    command = words[1] if len(words) > 1 and words[1] in commands else "fit"
    current = "" if typed_line.endswith(" ") else words[-1]
    before = words[2:] if typed_line.endswith(" ") else words[2:-1]
    if primary_config(command) is None:
        parser = getattr(importlib.import_module(f"mltrain.commands.{command}"), "parser", None)
        return _joined(_option_words(parser(), current, before)) if parser else None
    return None if has_groups(command) else _joined(_key_words(command, current, before))


def _key_words(command: str, current: str, before: list[str]) -> list[str]:
    """``run= input= max_drop=`` (the keys not typed yet), or the paths after ``key=``."""
    from mltrain.config.catalog import command_keys  # only for a query (see answer)

    keys = command_keys(command)
    key, eq, value = current.partition("=")
    if eq:
        return [f"{key}={p}" for p in paths(value)] if key in keys else []
    typed = {w.partition("=")[0] for w in before}
    return [f"{k}=" for k in keys if k.startswith(current) and k not in typed]


def _option_words(parser: argparse.ArgumentParser, current: str, before: list[str]) -> list[str]:
    """An argparse command's flags after ``-``, else directories (nothing after a flag taking a value)."""
    actions = parser._actions  # argparse has no public list of its options; argcomplete reads this too
    takes_value = {o for a in actions for o in a.option_strings if a.nargs != 0}
    if before and before[-1] in takes_value:
        return []  # the shell's own file completion takes over
    if current.startswith("-"):
        return [o for a in actions for o in a.option_strings if o.startswith(current)]
    return [p for p in paths(current) if p.endswith("/")]


def paths(prefix: str) -> list[str]:
    """Files and directories (with a trailing ``/``) that complete ``prefix``; hidden ones only asked."""
    directory, sep, start = prefix.rpartition("/")
    folder = Path(directory or ("/" if sep else "."))
    if not folder.is_dir():
        return []
    shown = (e for e in folder.iterdir() if e.name.startswith(start))
    shown = (e for e in shown if start.startswith(".") or not e.name.startswith("."))
    return sorted(f"{directory}{sep}{e.name}{'/' if e.is_dir() else ''}" for e in shown)


def _joined(words: list[str]) -> str:
    """Words for the shell: one a line for fish, space-separated for bash (and zsh)."""
    return ("\n" if "query=fish" in sys.argv else " ").join(words)
