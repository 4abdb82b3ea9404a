"""Reading data files for ``dataset=csv``: Parquet, compressed CSV, float32 columns, the memory check.

    python -m pytest tests/components/test_tables.py -q

Every file is generated here; what mltrain reads is compared with what pandas reads from the plain CSV.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain.data import memory, tables
from mltrain.data.datasets import DATASETS
from mltrain.errors import DataError


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "x": rng.normal(size=rows),
        "count": rng.integers(0, 1000, size=rows),
        "colour": rng.choice(["red", "green", "blue"], size=rows),
        "label": rng.choice(["yes", "no"], size=rows),
        "value": rng.normal(size=rows) * 100,
    })  # fmt: skip
    frame.loc[3, "x"] = np.nan
    frame.loc[5, "colour"] = None
    return frame


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.csv.bz2", "d.csv.zip", "d.csv.xz", "d.csv.zst",
                                  "d.parquet"])  # fmt: skip
def test_every_format_reads_the_same_table(tmp_path: Path, name: str) -> None:
    pytest.importorskip("zstandard") if name.endswith(".zst") else None
    frame = _frame()
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    table = DATASETS.get("csv")(path=str(path), target="label")
    assert list(table.frame.columns) == list(frame.columns)
    assert table.features == ["x", "count", "colour", "value"]
    assert table.frame["label"].tolist() == frame["label"].tolist()  # the target exactly as written
    for column in ("x", "count", "value"):  # numbers as float32, missing values kept
        assert table.frame[column].dtype == np.float32
        np.testing.assert_array_equal(table.frame[column], frame[column].astype(np.float32))
    assert table.frame["colour"].isna().tolist() == frame["colour"].isna().tolist()
    assert table.frame["colour"].dropna().tolist() == frame["colour"].dropna().tolist()


def test_only_the_columns_the_run_uses_are_read(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    _frame().to_parquet(path)
    table = DATASETS.get("csv")(path=str(path), target="label", features=["value", "x"])
    assert list(table.frame.columns) == ["x", "label", "value"]


def test_a_feature_not_in_the_file_reads_every_column_so_the_error_can_list_them(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    _frame().to_parquet(path)
    table = DATASETS.get("csv")(path=str(path), target="label", features=["nope"])
    assert list(table.frame.columns) == list(_frame().columns)


@pytest.mark.parametrize(
    ("low", "high", "integers", "expected"),
    [
        (-4.2, 5.1, False, True),  # standardised-looking values
        (1.6e9, 1.9e9, False, True),  # seconds since 1970 over years: float32 rounding is 1e-7 of the range
        (1e9 - 10, 1e9 + 10, False, False),  # a large offset and a small spread: float32 would blur it
        (7.0, 7.0, False, True),  # a constant column stays constant
        (None, None, False, True),  # only missing values
        (-(2**24), 2**24, True, True),  # integers float32 holds exactly
        (0, 2**24 + 1, True, False),  # and one it does not
    ],
)
def test_when_a_column_may_become_float32(low: float, high: float, integers: bool, expected: bool) -> None:
    assert tables.fits_float32(low, high, integers) is expected


def test_columns_float32_would_blur_stay_float64(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"t": 1e9 + np.arange(50.0) / 4, "id": 2**40 + np.arange(50), "y": np.arange(50) % 2}
    )
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    table = DATASETS.get("csv")(path=str(path), target="y")
    assert table.frame["t"].tolist() == frame["t"].tolist()
    assert table.frame["id"].tolist() == frame["id"].tolist()


WITHOUT_PYARROW = """
import json, sys
sys.modules["pyarrow"] = None  # as on an installation without the parquet extra, before pandas looks
from mltrain.data.datasets import DATASETS
from mltrain.errors import DataError
found = {}
for path in sys.argv[1:]:
    try:
        frame = DATASETS.get("csv")(path=path, target="label").frame
        found[path] = [str(frame["x"].dtype), frame["x"].astype(float).fillna(-1).tolist(),
                       int(frame["colour"].isna().sum())]
    except DataError as e:
        found[path] = str(e)
print(json.dumps(found))
"""


def test_without_pyarrow_pandas_reads_csv_and_parquet_says_what_to_install(tmp_path: Path) -> None:
    frame = _frame()
    paths = [tmp_path / name for name in ("d.csv", "d.csv.gz", "d.csv.xz")]
    for path in paths:
        frame.to_csv(path, index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    args = [*map(str, paths), str(tmp_path / "d.parquet")]
    done = subprocess.run([sys.executable, "-c", WITHOUT_PYARROW, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    for path in paths:
        assert found[str(path)] == ["float32", frame["x"].astype(np.float32).fillna(-1).tolist(), 1]
    parquet = found[str(tmp_path / "d.parquet")]
    assert parquet == "d.parquet: reading Parquet needs pyarrow; pip install 'mltrain[parquet]'"


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.csv.bz2", "d.csv.zip", "d.parquet"])
def test_row_count_is_exact_for_parquet_and_close_for_csv(tmp_path: Path, name: str) -> None:
    frame = _frame(rows=20_000)
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    rows, exact = tables.count_rows(path)
    assert exact is name.endswith(".parquet")
    assert rows == pytest.approx(20_000, rel=0 if exact else 0.05)


def test_a_file_too_large_for_the_memory_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "d.parquet"
    _frame(rows=1000).to_parquet(path)
    monkeypatch.setenv(memory.BUDGET_ENV, str(memory.FIXED_BYTES))  # nothing left for the data
    with pytest.raises(DataError) as info:
        DATASETS.get("csv")(path=str(path), target="label")
    message = str(info.value)
    assert f"dataset.path={path} (1,000 rows x 5 columns) needs about 1.0 GiB" in message
    assert "1.0 GiB is available" in message and "dataset.check_memory=false skips this check" in message
    assert len(DATASETS.get("csv")(path=str(path), target="label", check_memory=False).frame) == 1000


def test_the_estimate_covers_a_measured_peak() -> None:
    """bench_data.py's peaks at 5,000,000 x 51 values: a whole fit of the Parquet file 5.37 GiB; loading and
    preparing the CSV file 5.47 GiB, plus the 1.33 GiB the fit added for Parquet."""
    assert memory.estimate_bytes(5_000_000, 51, parquet=True) >= 5.37 * 2**30 * 1.1
    assert memory.estimate_bytes(5_000_000, 51, parquet=False) >= (5.47 + 1.33) * 2**30 * 1.1
