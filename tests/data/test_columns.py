"""The column and dtype policy (``data/columns.py``), against pandas and NumPy done by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mltrain.data.columns import (
    missing_columns,
    parse_numbers,
    require_columns,
    to_float32,
    unseen_categories,
)
from mltrain.errors import DataError


def test_missing_columns_keep_their_order_and_the_message_names_them() -> None:
    frame = pd.DataFrame({"a": [1], "c": [2]})
    assert missing_columns(frame, ["d", "a", "b"]) == ["d", "b"]
    with pytest.raises(DataError, match=r"^input=x.csv has no column 'd', 'b' \(the model needs it\)$"):
        require_columns(frame, ["d", "a", "b"], "input=x.csv")


def test_text_among_numbers_is_marked_and_missing_values_are_not() -> None:
    numbers, text = parse_numbers(pd.Series(["1.5", None, "n/a", "2"], dtype=object))
    np.testing.assert_array_equal(numbers.to_numpy(), [1.5, np.nan, np.nan, 2.0])
    np.testing.assert_array_equal(text, [False, False, True, False])


def test_unseen_categories_leave_missing_values_out() -> None:
    values = pd.Series(["a", None, "z", "b"])
    np.testing.assert_array_equal(unseen_categories(values, ["a", "b"]), [False, False, True, False])


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1, 2**24 + 1]),
        pd.Series([0.1, np.nan]),
        pd.Series([1, None], dtype="Int64"),
        pd.Series([0.1, None], dtype=object),
        pd.Series([True, False]),
    ],  # fmt: skip
)
def test_float32_is_numpys_rounding_with_missing_values_as_nan(values: pd.Series) -> None:
    expected = np.array([np.nan if v is None or v is pd.NA else float(v) for v in values]).astype(np.float32)
    got = to_float32(values)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
