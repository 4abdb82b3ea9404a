"""Dataset loaders: ``pytest tests/components/test_datasets.py``.

Shapes and classes of the bundled datasets are checked against scikit-learn's own loaders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.datasets

from mltrain.data.datasets import CLASSES, CONTINUOUS, DATASETS
from mltrain.errors import DataError


@pytest.mark.parametrize(
    ("name", "loader", "rows", "features", "n_classes", "shape"),
    [
        ("digits", "load_digits", 1797, 64, 10, (1, 8, 8)),
        ("iris", "load_iris", 150, 4, 3, None),
        ("wine", "load_wine", 178, 13, 3, None),
        ("breast_cancer", "load_breast_cancer", 569, 30, 2, None),
    ],
)
def test_bundled_classification_datasets(
    name: str, loader: str, rows: int, features: int, n_classes: int, shape: tuple | None
) -> None:
    table = DATASETS.get(name)()
    x, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    assert x.shape == (rows, features)
    assert len(table.frame) == rows
    assert len(table.features) == features
    assert table.target not in table.features
    assert table.target_kind == CLASSES
    assert table.input_shape == shape
    np.testing.assert_array_equal(table.frame[table.features].to_numpy(dtype=np.float64), x)
    assert table.frame[table.target].nunique() == len(np.unique(y)) == n_classes


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_bundled_labels_are_scikit_learns_class_names(name: str) -> None:
    bunch = getattr(sklearn.datasets, f"load_{name}")()
    table = DATASETS.get(name)()
    np.testing.assert_array_equal(
        table.frame[table.target].to_numpy(dtype=object), np.asarray(bunch.target_names)[bunch.target]
    )


def test_digits_labels_are_the_digits() -> None:
    table = DATASETS.get("digits")()
    assert sorted(table.frame[table.target].unique().tolist()) == list(range(10))
    assert int(np.prod(table.input_shape)) == len(table.features)


def test_diabetes_is_continuous() -> None:
    table = DATASETS.get("diabetes")()
    x, y = sklearn.datasets.load_diabetes(return_X_y=True)
    assert x.shape == (442, 10)
    assert (len(table.frame), len(table.features)) == (442, 10)
    assert table.target_kind == CONTINUOUS
    np.testing.assert_allclose(table.frame[table.target].to_numpy(dtype=np.float64), y, rtol=0)


@pytest.mark.parametrize(("rows", "features", "classes"), [(120, 6, 4), (50, 3, 2)])
def test_synthetic_classification_honours_its_sizes(rows: int, features: int, classes: int) -> None:
    table = DATASETS.get("synthetic")(task="classification", rows=rows, features=features, classes=classes)
    assert table.frame.shape == (rows, features + 1)
    assert len(table.features) == features
    assert table.target_kind == CLASSES
    assert sorted(table.frame[table.target].unique().tolist()) == list(range(classes))


def test_synthetic_regression_is_continuous_and_seeded() -> None:
    make = DATASETS.get("synthetic")
    table = make(task="regression", rows=80, features=5, random_state=1)
    assert table.frame.shape == (80, 6)
    assert table.target_kind == CONTINUOUS
    assert table.frame[table.target].nunique() == 80
    pd.testing.assert_frame_equal(
        table.frame, make(task="regression", rows=80, features=5, random_state=1).frame
    )
    assert not table.frame.equals(make(task="regression", rows=80, features=5, random_state=2).frame)


def test_csv_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match="absent.csv") as info:
        DATASETS.get("csv")(path=str(path), target="y")
    assert "dataset.path" in str(info.value)


def test_csv_directory_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        DATASETS.get("csv")(path=str(tmp_path), target="y")


@pytest.mark.parametrize(("content", "why"), [("", "not a readable CSV"), ("a,b,y\n", "no data rows")])
def test_csv_empty_file_names_the_path(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=why) as info:
        DATASETS.get("csv")(path=str(path), target="y")
    assert str(path) in str(info.value)


def test_csv_reads_string_labels(tmp_path: Path) -> None:
    path = tmp_path / "animals.csv"
    path.write_text("weight,legs,kind\n4.5,4,cat\n30.0,4,dog\n0.02,2,bird\n5.1,4,cat\n")
    table = DATASETS.get("csv")(path=str(path), target="kind")
    assert table.name == "animals.csv"
    assert table.features == ["weight", "legs"]
    assert table.target_kind is None  # the loss decides
    assert table.missing == "error"
    assert table.frame["kind"].tolist() == ["cat", "dog", "bird", "cat"]
    assert table.frame["weight"].dtype == np.float32  # features are read as float32 (the model's type)
    np.testing.assert_array_equal(table.frame["weight"], np.float32([4.5, 30.0, 0.02, 5.1]))


def test_csv_honours_features_separator_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;c;y\n1;2;3;yes\n4;;6;no\n")
    table = DATASETS.get("csv")(path=str(path), target="y", features=["c", "a"], missing="impute", sep=";")
    assert table.features == ["c", "a"]
    assert table.missing == "impute"
    assert list(table.frame.columns) == ["a", "c", "y"]  # only the columns the run uses are read
    assert table.frame["c"].tolist() == [3, 6]
