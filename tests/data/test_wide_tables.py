"""Wide tables are checked in work linear in their columns (issue 19: 60 rows x 50,000 columns took hours).

    python -m pytest tests/data/test_wide_tables.py -q
    python benchmarks/bench_wide.py      # the timings: seconds per width, 2k to 16k columns

The work is counted, not timed: column names are a ``str`` subclass that counts its ``==`` comparisons, so
a scan of a column list per column (``name in features``, ``features.count(name)``) shows up as about
columns**2 / 2 comparisons, where linear work makes a constant number per column (pandas' lookups: ~27).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from mltrain.data.checks import column_problems
from mltrain.data.datasets import Table
from mltrain.data.preprocessing import Preprocessor, missing_counts
from mltrain.monitoring.profile import build_profile

COMPARED = Counter()


class Name(str):
    """A column name that counts how often it is compared."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        COMPARED["=="] += 1
        return str.__eq__(self, other)


def wide_table(columns: int, rows: int = 60) -> Table:
    """Half number columns, half text columns of two values (neither kind refused by the checks)."""
    rng = np.random.default_rng(0)
    data = {f"n{i}": rng.normal(size=rows) for i in range(columns // 2)}
    data |= {f"t{i}": np.where(rng.random(rows) < 0.5, "a", "b") for i in range(columns - columns // 2)}
    frame = pd.DataFrame(data).assign(y=rng.integers(0, 2, rows))
    return Table("wide.csv", frame, Name("y"), [Name(c) for c in data])


def comparisons(columns: int) -> int:
    """Name comparisons of the data checks, the preprocessing fit and the training-rows profile."""
    table = wide_table(columns)
    COMPARED.clear()
    assert column_problems(table) == [] and missing_counts(table) == {}
    pre = Preprocessor.fit(table, np.arange(len(table.frame)), classifier=True)
    build_profile(table.frame, pre, {})
    return COMPARED["=="]


def test_the_checks_compare_each_column_name_a_few_times_not_once_per_column() -> None:
    small, large = comparisons(500), comparisons(2000)

    assert large <= 50 * 2000, large  # about 27 per column (pandas' lookups); a scan per column: 7,000,000
    assert large <= 5 * max(small, 1), (small, large)  # four times the columns, about four times the work
