"""Tab completion through the subcommand: ``mltrain fit optimizer=<TAB>``, ``mltrain f<TAB>``.

Hydra's completion scripts call ``mltrain -sc query=bash`` with the typed line in ``COMP_LINE``; Hydra
expects no subcommand in it, so the dispatcher strips it before Hydra reads the line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable


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
