"""User errors: ``cli.py`` turns them into one red message and exit status 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Something the user typed or supplied is wrong; the message says what to use instead."""


class ConfigError(UserError):
    """One or more config problems, collected and reported at once."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        lines = [f"{len(self.problems)} problems in the config:"]
        return "\n".join(lines + [f"  - {p}" for p in self.problems])


class DataError(UserError):
    """The data cannot be used as configured: a missing file or column, missing values, bad labels."""


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """Return ``"; did you mean X?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def choice_problem(key: str, value: object, choices: Iterable[str]) -> str:
    """The standard message for a value outside a fixed set of choices."""
    choices = sorted(choices)
    return f"{key}={value!s} is not valid; choose from {', '.join(choices)}{did_you_mean(value, choices)}"


class DistributedError(Exception):
    """A rank of a multi-process run failed or died. Not the user's mistake, yet one message names the
    rank and where its traceback is: ``cli.py`` prints it and exits with status 1, without a traceback."""
