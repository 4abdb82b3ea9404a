"""The column and dtype policy: which columns a frame lacks, which values are not numbers or categories a
model knows, and how a number column becomes float32 as training read it.

    missing_columns(frame, ["a", "b"])            # ["b"]: config checks, check_frame, monitor, transform
    require_columns(frame, features, "input=x")   # DataError: input=x has no column 'b' (the model needs it)
    numbers, text = parse_numbers(frame["age"])   # "12" -> 12.0; text marks "n/a", "twelve"
    frame["age"] = to_float32(frame["age"])       # the very numbers training read (data/tables.py)

Used by the data checks (``data/checks.py``), the config checked against the data
(``config/data_problems.py``), preprocessing, and the commands that read new rows for a saved model
(``serving/``, ``commands/monitor.py``), so each of these questions has one answer.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np
import pandas as pd

from mltrain.errors import DataError

log = logging.getLogger(__name__)


def missing_columns(frame: pd.DataFrame, columns: Iterable[Any]) -> list[Any]:
    """The ``columns`` that ``frame`` lacks, in their order."""
    return [c for c in columns if c not in frame.columns]


def require_columns(frame: pd.DataFrame, columns: Iterable[Any], source: str) -> None:
    """Check that new rows for a model have every column it needs.

    Raises:
        DataError: ``<source> has no column 'a', 'b' (the model needs it)``.
    """
    missing = missing_columns(frame, columns)
    if missing:
        raise DataError(f"{source} has no column {', '.join(map(repr, missing))} (the model needs it)")


def is_number_column(values: pd.Series) -> bool:
    """Whether a column holds numbers (booleans do not count: they are categories)."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``values`` as numbers, NaN where a value is missing or is not a number; and where a value is present
    but is not a number (text such as ``"n/a"``)."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers, (numbers.isna() & values.notna()).to_numpy()


def is_infinite(numbers: pd.Series) -> np.ndarray:
    """Where a number column holds an infinite value (missing values are not infinite)."""
    return np.isinf(numbers.to_numpy(dtype=np.float64))


def unseen_categories(values: pd.Series, known: Collection[Any]) -> np.ndarray:
    """Where a present value is none of the ``known`` categories (missing values are not unseen)."""
    return (values.notna() & ~values.isin(known)).to_numpy()


class UnseenCategories:
    """Rows with categories a model never saw, counted per column over chunks (and fold models), then
    reported in one warning line per column. Such rows are encoded as all zeros, as scikit-learn's
    ``OneHotEncoder(handle_unknown="ignore")`` does and the ONNX export computes.

        unseen = UnseenCategories("input=x.csv")
        for chunk in chunks:
            unseen.add(chunk, [pre.categories for pre in preprocessors])
        unseen.warn()   # input=x.csv: column 'county' has 3 rows with categories the model never saw ...
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.counts: dict[Any, int] = {}
        self.examples: dict[Any, Any] = {}

    def add(self, frame: pd.DataFrame, known: list[dict[Any, list[Any]]]) -> None:
        """Count the rows of ``frame`` holding a category that any of the ``known`` encodings lacks."""
        columns = dict.fromkeys(c for categories in known for c in categories if c in frame.columns)
        for column in columns:
            unseen = np.zeros(len(frame), dtype=bool)
            for categories in known:
                if column in categories:
                    unseen |= unseen_categories(frame[column], categories[column])
            if unseen.any():
                self.counts[column] = self.counts.get(column, 0) + int(unseen.sum())
                self.examples.setdefault(column, frame[column].to_numpy()[np.flatnonzero(unseen)[0]])

    def warn(self) -> None:
        """One warning line per column that had unseen categories."""
        for column, count in self.counts.items():
            example = self.examples[column]
            shown = repr(example.item() if isinstance(example, np.generic) else example)
            log.warning(
                "%s: column %r has %d rows with categories the model never saw (e.g. %s); they are encoded "
                "as all zeros", self.source, column, count, shown,
            )  # fmt: skip


def to_float32(values: pd.Series) -> np.ndarray:
    """A number column rounded to float32, missing values NaN: how training reads a column that float32
    holds (``data/tables.py`` decides which), so new rows give a model the very inputs training gave it."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":  # NaN is NaN: cast in one copy
        return values.to_numpy().astype(np.float32)
    return values.to_numpy(dtype=np.float32, na_value=np.nan)  # nullable and object columns
