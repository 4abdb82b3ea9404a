"""What a loaded table holds that training cannot use, or would use in a way the user did not mean.

    problems = column_problems(table)    # one line per column, for data_fit.validate; warnings are logged

The policy (README, "Suspicious columns"):

* refused always: no feature column at all, infinite values in a used column, a feature column with no
  values under ``dataset.missing=impute`` (nothing to fill it with) or ``drop`` (every row would go);
* refused when mltrain picked the columns itself (``dataset.features`` unset), used with a warning when
  ``dataset.features`` names the column: text that is unique in most rows (an id: one-hot encoding it
  adds a column per row and cannot generalise), and a column of numbers with some text in it (one-hot
  encoding it would turn every number into a category).
"""

from __future__ import annotations

import logging
import re
import shlex
from collections import Counter

import numpy as np
import pandas as pd

from mltrain.data.columns import is_infinite, is_number_column, parse_numbers
from mltrain.data.datasets import Table

log = logging.getLogger(__name__)

ID_MIN_DISTINCT = 20  # fewer distinct values than this is never called an id column
ID_SHARE = 0.5  # text columns with distinct values in more than this share of rows are ids
HINT_CHARS = 2000  # longest dataset.features=[...] hint given to paste; a longer list is described instead
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")  # a column name Hydra reads as text without quotes


def column_problems(table: Table) -> list[str]:
    """Every problem of the table's used columns; warnings for suspicious columns the user chose."""
    used = [c for c in [*table.features, table.target] if c in table.frame.columns]
    features = [c for c in table.features if c in table.frame.columns and c != table.target]
    if not table.features:
        given = "dataset.features=[] selects" if table.features_given else f"{table.name} has"
        return [f"{given} no feature columns besides the target {table.target!r}; a model needs at least one"]
    repeated = sorted(str(c) for c, n in Counter(table.features).items() if n > 1)
    if repeated:
        return [
            f"dataset.features lists {', '.join(map(repr, repeated))} more than once; name each column once"
        ]
    problems = [p for c in used if (p := _infinite(table, c))]
    problems += [p for c in features if (p := _empty(table, c))]
    found = {c: f for c in features if (f := _mixed(table, c) or _identifier(table, c))}
    for finding, fix in found.values():
        if table.features_given:
            log.warning("%s; used as categories since dataset.features names it%s", finding,
                        f" ({fix.removesuffix(', or ')})" if fix else "")  # fmt: skip
        else:
            problems.append(f"{finding}; {fix}{_leave_out(table, list(found))}")
    return problems


def _infinite(table: Table, column: str) -> str | None:
    values = table.frame[column]
    if not is_number_column(values):
        return None
    rows = np.flatnonzero(is_infinite(values))
    if not len(rows):
        return None
    return (
        f"column {column!r} of {table.name} holds {len(rows)} infinite value(s) (first in data row "
        f"{rows[0] + 1}); only empty cells count as missing, so replace them in the file"
    )


def _empty(table: Table, column: str) -> str | None:
    if table.missing not in ("impute", "drop") or table.frame[column].notna().any():
        return None
    outcome = "has nothing to fill it with" if table.missing == "impute" else "would drop every row"
    return (
        f"column {column!r} of {table.name} is empty (all {len(table.frame)} rows missing); "
        f"dataset.missing={table.missing} {outcome}; {_leave_out(table, [column])}"
    )


def _text(values: pd.Series) -> pd.Series | None:
    """The non-missing values of a text column, or ``None`` for numeric and boolean columns."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    return values.dropna()


def _mixed(table: Table, column: str) -> tuple[str, str] | None:
    """Numbers with some text among them, e.g. ``3.2, 4.1, unknown``: most likely dirty numbers.

    Returns:
        What was found, and a fix that ends in ``", or "`` (the caller adds the way to leave it out).
    """
    values = _text(table.frame[column])
    if values is None or values.empty:
        return None
    numbers = ~parse_numbers(values)[1]  # values has no missing ones: what is not text is a number
    if numbers.all() or numbers.mean() < 0.5:
        return None
    text = values[~numbers].astype(str).value_counts()
    shown = ", ".join(f"{v!r} ({n}x)" for v, n in text.head(3).items()) + (", ..." if len(text) > 3 else "")
    finding = (
        f"column {column!r} of {table.name} holds numbers and {int((~numbers).sum())} text value(s) "
        f"({shown}), which would make every number a category"
    )
    if len(text) > 5:
        return finding, "clean those values in the file, or "
    na_values = ",".join(text.index)
    return (
        finding,
        f"if they mean missing, add dataset.na_values=[{na_values}] and dataset.missing=drop or impute, or ",
    )


def _identifier(table: Table, column: str) -> tuple[str, str] | None:
    """Text that (nearly) every row has its own value of: names, ids, free text."""
    values = _text(table.frame[column])
    if values is None:
        return None
    distinct = int(values.nunique())
    if distinct < ID_MIN_DISTINCT or distinct <= ID_SHARE * len(values):
        return None
    return (
        f"column {column!r} of {table.name} has {distinct:,} distinct text values in {len(values):,} rows "
        "(an id or free text?); one-hot encoding would make an input column of each value, which cannot "
        "generalise to new rows",
        "",
    )


def _leave_out(table: Table, columns: list[str]) -> str:
    """A ``dataset.features=[...]`` hint naming every feature but ``columns``, to paste as it is: names
    Hydra would not read as text are quoted, and then the override is quoted for the shell."""
    left_out = set(columns)
    rest = [str(c) for c in table.features if c not in left_out]
    if not rest:
        return "it is the only feature column"
    override = f"dataset.features=[{','.join(map(_list_item, rest))}]"
    if len(override) > HINT_CHARS:
        return f"leave it out by listing the other {len(rest):,} columns in dataset.features=[...]"
    return f"leave it out with {override if all(_list_item(c) == c for c in rest) else _for_shell(override)}"


def _for_shell(override: str) -> str:
    """The override quoted for a POSIX shell: in double quotes where they keep it as it is, else shlex's."""
    if any(ch in override for ch in '"$`!') or "\\\\" in override:
        return shlex.quote(override)
    return f'"{override}"'


def _list_item(name: str) -> str:
    """``name`` as an item of a Hydra override list: as it is when plain, else quoted (``'first name'``)."""
    if PLAIN_NAME.fullmatch(name) and name.lower() not in ("true", "false", "null", "nan", "inf"):
        return name
    # Hydra reads a backslash as an escape only before a quote (or the closing quote): double just those
    escaped = re.sub(r"(\\+)(?='|$)", r"\1\1", name).replace("'", "\\'")
    return f"'{escaped}'"
