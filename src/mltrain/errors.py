"""User errors: ``cli.py`` turns them into one red message and exit status 2, never a traceback."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Range = tuple[Callable[[Any], bool], str]  # (is the value fine, what it must be: "> 0", "in [0, 1)")


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


def range_problems(
    prefix: str, values: Mapping[str, Any], ranges: Mapping[str, Range], context: str = ""
) -> list[str]:
    """The standard messages for the numbers of one config node outside their ranges.

    ``optimizer.lr must be > 0, got -1``. NaN and infinity are never fine, for a key with a range or
    without one (a list such as ``betas`` included): ``optimizer.lr must be a finite number > 0, got inf``.

    Args:
        prefix: the node's key with a dot, ``"optimizer."``.
        values: the node's keys and values.
        ranges: per key, a test (written so that NaN fails it) and the valid range in words.
        context: words after the range, e.g. ``" for scheduler=step"``.
    """
    problems = []
    for key, value in values.items():
        fine, valid = ranges.get(key, (None, ""))
        if fine is not None and not fine(value):
            problems.append(f"{prefix}{key} must be {valid}{context}, got {value}")
        elif not is_finite(value):
            valid = f" {valid}" if valid else ""
            problems.append(f"{prefix}{key} must be a finite number{valid}{context}, got {value}")
    return problems


def is_finite(value: Any) -> bool:
    """False for a float NaN or infinity, or a list holding one; True for anything else (ints, text, None)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return all(is_finite(v) for v in value)
    return True


class DistributedError(Exception):
    """A rank of a multi-process run failed or died. Not the user's mistake, yet one message names the
    rank and where its traceback is: ``cli.py`` prints it and exits with status 1, without a traceback."""
