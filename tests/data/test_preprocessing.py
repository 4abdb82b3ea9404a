"""Splitting, encoding and scaling against NumPy and scikit-learn.

Run: ``pytest tests/components/test_preprocessing.py``.

The fitted statistics must come from the training rows only; every reference is computed here with
NumPy or scikit-learn on those rows.
"""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mltrain.data.datasets import CLASSES, CONTINUOUS, DATASETS, Table
from mltrain.data.preprocessing import (
    Preprocessor,
    class_codes,
    describe_target,
    drop_missing,
    missing_counts,
    split_indices,
)
from mltrain.errors import DataError

# --- split_indices ---------------------------------------------------------------------------------

SIZES = [(10, 0.3), (103, 0.2), (7, 0.5), (1000, 0.15), (50, 0.01)]
# imbalanced string labels: 50 / 30 / 17 / 3 rows
LABELS = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 17 + ["d"] * 3)


def _class_counts(labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    classes = np.unique(labels)
    return np.array([(labels[rows] == c).sum() for c in classes])


@pytest.mark.parametrize(("n", "fraction"), SIZES)
@pytest.mark.parametrize("stratified", [False, True])
def test_split_is_a_disjoint_cover_sized_like_sklearn(n: int, fraction: float, stratified: bool) -> None:
    labels = np.arange(n) % 3 if stratified else None
    train, val = split_indices(n, fraction, seed=0, labels=labels)
    _, sk_val = train_test_split(np.arange(n), test_size=fraction, random_state=0)
    assert len(val) == len(sk_val) == int(np.ceil(fraction * n))
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.33, 0.5])
def test_stratified_split_keeps_class_shares_like_sklearn(fraction: float) -> None:
    n = len(LABELS)
    train, val = split_indices(n, fraction, seed=0, labels=LABELS)
    sk_train, sk_val = train_test_split(np.arange(n), test_size=fraction, random_state=0, stratify=LABELS)
    assert len(val) == len(sk_val)
    assert np.abs(_class_counts(LABELS, val) - _class_counts(LABELS, sk_val)).max() <= 1
    assert np.abs(_class_counts(LABELS, train) - _class_counts(LABELS, sk_train)).max() <= 1


@pytest.mark.parametrize("labels", [None, LABELS], ids=["shuffle", "stratified"])
def test_split_is_deterministic_per_seed(labels: np.ndarray | None) -> None:
    first = split_indices(len(LABELS), 0.2, seed=3, labels=labels)
    again = split_indices(len(LABELS), 0.2, seed=3, labels=labels)
    other = split_indices(len(LABELS), 0.2, seed=4, labels=labels)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


# --- Preprocessor ----------------------------------------------------------------------------------

TRAIN = np.array([0, 1, 2, 3, 4, 5])
VAL = np.array([6, 7])


def _table(missing: str = "error") -> Table:
    """Eight rows; the first six train. ``c`` is constant on the training rows only; ``colour`` has a
    category (``green``) that only a validation row holds."""
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 1000.0, -50.0],
            "b": [3, 1, 4, 1, 5, 9, 2, 6],
            "c": [7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 1.0, 2.0],
            "colour": ["red", "blue", "red", "blue", "red", "red", "green", "blue"],
            "flag": [True, False, True, True, False, True, False, True],
            "label": ["dog", "cat", "dog", "bird", "cat", "dog", "bird", "cat"],
            "y": [1.5, 2.5, -0.5, 4.0, 10.0, 3.0, 100.0, -100.0],
        }
    )
    return Table("t.csv", frame, "label", ["a", "b", "c", "colour", "flag"], missing=missing)


def test_fit_scales_with_training_rows_only() -> None:
    table = _table()
    pre = Preprocessor.fit(table, TRAIN, classifier=True)
    train = table.frame.iloc[TRAIN][["a", "b", "c"]].to_numpy(dtype=np.float64)
    assert pre.numeric == ["a", "b", "c"]
    np.testing.assert_allclose(pre.mean, train.mean(0), rtol=1e-12)
    np.testing.assert_allclose(pre.scale[:2], train[:, :2].std(0), rtol=1e-12)
    assert pre.scale[2] == 1.0  # zero variance on the training rows

    x = pre.transform(table.frame)
    everything = table.frame[["a", "b", "c"]].to_numpy(dtype=np.float64)
    expected = (everything - train.mean(0)) / np.array([*train[:, :2].std(0), 1.0])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x[:, :3], expected, rtol=1e-6)


def test_one_hot_uses_training_categories_and_zeros_unseen() -> None:
    table = _table()
    pre = Preprocessor.fit(table, TRAIN, classifier=True)
    assert pre.categories == {"colour": ["blue", "red"], "flag": [False, True]}
    assert pre.n_features == 3 + 2 + 2

    x = pre.transform(table.frame)
    colour = x[:, 3:5]
    expected = np.array([[c == "blue", c == "red"] for c in table.frame["colour"]], dtype=np.float32)
    np.testing.assert_array_equal(colour, expected)
    np.testing.assert_array_equal(colour[6], [0.0, 0.0])  # "green" never seen in training
    flags = table.frame["flag"].to_numpy()
    np.testing.assert_array_equal(x[:, 5:7], np.stack([~flags, flags], axis=1).astype(np.float32))


def test_unseen_values_are_encoded_without_a_pandas_deprecation() -> None:
    """``pd.Categorical(values, categories=...)`` with values outside the categories warns on pandas 3 and
    will raise on pandas 4; unseen categories and labels must keep working (zero row, DataError)."""
    table = _table()
    pre = Preprocessor.fit(table, TRAIN, classifier=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pre.transform(table.frame)  # row 6 holds the unseen colour "green"
        with pytest.raises(DataError):
            pre.encode_target(pd.Series(["dog", "fish"]))


def test_transform_names_a_missing_column() -> None:
    pre = Preprocessor.fit(_table(), TRAIN, classifier=True)
    with pytest.raises(DataError, match="'colour'"):
        pre.transform(_table().frame.drop(columns=["colour"]))


def _with_gaps(table: Table, rows: list[int]) -> Table:
    frame = table.frame.copy()
    frame.loc[rows, "a"] = np.nan
    frame.loc[rows, "colour"] = None
    return Table(table.name, frame, table.target, table.features, missing="impute")


def test_impute_fills_with_training_median_and_mode() -> None:
    table = _with_gaps(_table(), [1, 7])  # a gap in a training row and in a validation row
    pre = Preprocessor.fit(table, TRAIN, classifier=True)
    train = table.frame.iloc[TRAIN]
    median = float(np.nanmedian(train["a"].to_numpy(dtype=np.float64)))
    assert pre.fill["a"] == pytest.approx(median, rel=1e-12)
    assert pre.fill["colour"] == "red"

    filled = train["a"].fillna(median).to_numpy(dtype=np.float64)
    x = pre.transform(table.frame)
    assert not np.isnan(x).any()
    expected = (median - filled.mean()) / filled.std()
    np.testing.assert_allclose(x[[1, 7], 0], [expected, expected], rtol=1e-6)
    np.testing.assert_array_equal(x[[1, 7], 3:5], [[0.0, 1.0], [0.0, 1.0]])  # the mode, "red"


def test_impute_fills_gaps_that_only_later_rows_have() -> None:
    """``missing=impute`` must also fill validation (and predict-time) rows when the training rows had no
    gap in that column; the fill value is still the training median / mode."""
    table = _with_gaps(_table(), [7])  # only a validation row has gaps
    pre = Preprocessor.fit(table, TRAIN, classifier=True)
    train_a = table.frame.iloc[TRAIN]["a"].to_numpy(dtype=np.float64)
    x = pre.transform(table.frame)
    assert not np.isnan(x).any()
    expected = (np.median(train_a) - train_a.mean()) / train_a.std()
    assert x[7, 0] == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(x[7, 3:5], [0.0, 1.0])  # the training mode, "red"


def test_encode_target_uses_sorted_class_order() -> None:
    table = _table()
    pre = Preprocessor.fit(table, TRAIN, classifier=True)
    assert pre.classes == ["bird", "cat", "dog"]
    codes = pre.encode_target(table.frame["label"])
    assert codes.dtype == np.int64
    expected = np.searchsorted(np.array(["bird", "cat", "dog"]), table.frame["label"].to_numpy())
    np.testing.assert_array_equal(codes, expected)


def test_integer_classes_sort_numerically() -> None:
    frame = pd.DataFrame({"x": np.arange(6.0), "label": [10, 2, 1, 2, 10, 1]})
    pre = Preprocessor.fit(Table("t", frame, "label", ["x"]), np.arange(6), classifier=True)
    assert pre.classes == [1, 2, 10]
    np.testing.assert_array_equal(pre.encode_target(frame["label"]), [2, 1, 0, 1, 2, 0])


def test_encode_target_rejects_an_unseen_label() -> None:
    pre = Preprocessor.fit(_table(), TRAIN, classifier=True)
    with pytest.raises(DataError, match="'label'.*fish"):
        pre.encode_target(pd.Series(["dog", "fish", "cat"]))


def test_regression_target_is_standardised_with_training_rows() -> None:
    table = _table()
    table.target = "y"
    pre = Preprocessor.fit(table, TRAIN, classifier=False)
    y_train = table.frame["y"].to_numpy(dtype=np.float64)[TRAIN]
    assert pre.classes is None
    assert pre.target_mean == pytest.approx(y_train.mean(), rel=1e-12)
    assert pre.target_scale == pytest.approx(y_train.std(), rel=1e-12)
    encoded = pre.encode_target(table.frame["y"])
    assert encoded.dtype == np.float32
    expected = (table.frame["y"].to_numpy() - y_train.mean()) / y_train.std()
    np.testing.assert_allclose(encoded, expected, rtol=1e-6)


@pytest.mark.parametrize("classifier", [True, False])
def test_json_round_trip_gives_identical_transforms(classifier: bool) -> None:
    table = _with_gaps(_table(), [1, 7])
    if not classifier:
        table.target = "y"
    pre = Preprocessor.fit(table, TRAIN, classifier=classifier)
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored == pre
    np.testing.assert_array_equal(restored.transform(table.frame), pre.transform(table.frame))
    target = table.frame[table.target]
    np.testing.assert_array_equal(restored.encode_target(target), pre.encode_target(target))


def test_json_round_trip_keeps_integer_labels() -> None:
    frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 6), "label": np.array([0, 1, 2, 0, 1, 2])})
    pre = Preprocessor.fit(Table("t", frame, "label", ["x"]), np.arange(4), classifier=True)
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(restored.encode_target(frame["label"]), [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(restored.transform(frame), pre.transform(frame))


def test_json_round_trip_of_a_bundled_dataset() -> None:
    table = DATASETS.get("iris")()
    train, _ = split_indices(len(table.frame), 0.2, seed=0, labels=table.frame[table.target].to_numpy())
    pre = Preprocessor.fit(table, train, classifier=True)
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored.classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(restored.transform(table.frame), pre.transform(table.frame))
    x = table.frame[table.features].to_numpy(dtype=np.float64)
    expected = (x - x[train].mean(0)) / x[train].std(0)
    np.testing.assert_allclose(restored.transform(table.frame), expected, rtol=1e-5, atol=1e-6)


# --- describe_target, missing_counts, drop_missing -------------------------------------------------


def _target_table(values: list, kind: str | None = None) -> Table:
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float), "target": values})
    return Table("t", frame, "target", ["x"], kind)


@pytest.mark.parametrize(
    ("values", "kind", "n_classes", "numeric"),
    [
        (["b", "a", "b", "c", None], CLASSES, 3, False),
        ([1, 0, 1, 1, 0], "integers", 2, True),
        ([3.0, 1.0, np.nan, 2.0, 3.0], "integers", 3, True),
        ([0.5, 1.25, 0.5, 2.0, 3.0], CONTINUOUS, 4, True),
        ([True, False, True, True, False], CLASSES, 2, False),
    ],
)
def test_describe_target_infers_the_kind(values: list, kind: str, n_classes: int, numeric: bool) -> None:
    info = describe_target(_target_table(values))
    assert (info.kind, info.n_classes, info.is_numeric) == (kind, n_classes, numeric)


def test_describe_target_trusts_the_dataset_and_shows_examples() -> None:
    info = describe_target(_target_table(["x", "y", "z", "w"], kind=CLASSES))
    assert info.example == "'x', 'y', 'z'"
    assert describe_target(_target_table([1, 2, 3, 1], kind=CONTINUOUS)).kind == CONTINUOUS


def test_missing_counts_counts_used_columns_only() -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, np.nan, np.nan, 4.0],
            "b": [1.0, 2.0, 3.0, 4.0],
            "unused": [np.nan] * 4,
            "target": ["p", None, "q", "p"],
        }
    )
    table = Table("t", frame, "target", ["a", "b"])
    assert missing_counts(table) == {"a": 2, "target": 1}


def _gappy(missing: str) -> Table:
    frame = pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0, 4.0, 5.0],
            "unused": [np.nan, 1.0, 1.0, np.nan, 1.0],
            "target": [0, 1, None, 1, 0],
        }
    )
    return Table("t", frame, "target", ["a"], None, (1, 1, 1), missing)


@pytest.mark.parametrize(
    ("missing", "kept_a"), [("drop", [1.0, 4.0, 5.0]), ("impute", [1.0, np.nan, 4.0, 5.0])]
)
def test_drop_missing_drops_target_gaps_always_and_feature_gaps_on_drop(missing: str, kept_a: list) -> None:
    result = drop_missing(_gappy(missing))
    np.testing.assert_array_equal(result.frame["a"].to_numpy(), kept_a)
    assert list(result.frame.index) == list(range(len(kept_a)))


@pytest.mark.parametrize(
    ("missing", "dropped", "said"),
    [
        ("drop", 2, "t: dropped 2 of 5 rows: 1 with no target 'target', 1 with a missing feature "
                    "(dataset.missing=drop)"),
        ("impute", 1, "t: dropped 1 of 5 rows: 1 with no target 'target'"),
    ],
)  # fmt: skip
def test_drop_missing_says_how_many_rows_it_dropped(
    missing: str, dropped: int, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mltrain.data.preprocessing"):
        result = drop_missing(_gappy(missing))
    assert result.dropped_rows == dropped
    assert [r.getMessage() for r in caplog.records] == [said]


def test_drop_missing_keeps_the_table_description() -> None:
    table = _gappy("drop")
    result = drop_missing(table)
    for field in ("name", "target", "features", "target_kind", "input_shape", "missing"):
        assert getattr(result, field) == getattr(table, field), field


def test_drop_missing_of_every_row_is_a_data_error() -> None:
    frame = pd.DataFrame({"a": [np.nan, 1.0], "target": [1, np.nan]})
    with pytest.raises(DataError, match="no rows left"):
        drop_missing(Table("t.csv", frame, "target", ["a"], missing="drop"))


# --- large tables: one column at a time, no copies --------------------------------------------------


def _mixed_table(missing: str = "impute") -> Table:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "a": rng.normal(size=300).astype(np.float32),
        "b": rng.normal(size=300) * 1e3 + 5,
        "n": rng.integers(0, 9, size=300),
        "colour": rng.choice(["red", "green", "blue"], size=300),
        "label": rng.choice(["x", "y", "z"], size=300),
    })  # fmt: skip
    frame.loc[[4, 9], "a"] = np.nan
    frame.loc[7, "colour"] = None
    return Table("t", frame, "label", ["a", "b", "n", "colour"], missing=missing)


def test_transform_equals_the_whole_table_formula_bit_for_bit() -> None:
    """The reference is the formula on the whole table at once (pandas, then one NumPy expression)."""
    table = _mixed_table()
    pre = Preprocessor.fit(table, np.arange(200), classifier=True)
    as_float64 = table.frame[pre.features].astype(dict.fromkeys(pre.numeric, np.float64))
    filled = as_float64.fillna(pre.fill)  # gaps filled in float64, as the statistics were computed
    numeric = (filled[pre.numeric].to_numpy(dtype=np.float64) - pre.mean) / pre.scale
    codes = pd.Index(pre.categories["colour"]).get_indexer(filled["colour"])
    one_hot = np.eye(3, dtype=np.float32)[codes] * (codes >= 0)[:, None]
    expected = np.concatenate([numeric.astype(np.float32), one_hot], axis=1)
    np.testing.assert_array_equal(pre.transform(table.frame), expected)


def test_fit_statistics_are_the_training_rows_numpy_statistics() -> None:
    table = _mixed_table()
    rows = np.arange(0, 300, 2)
    pre = Preprocessor.fit(table, rows, classifier=True)
    train = table.frame.iloc[rows]
    a = train["a"].to_numpy(dtype=np.float64)
    filled_a = np.where(np.isnan(a), np.nanmedian(a), a)
    np.testing.assert_allclose(pre.mean[0], filled_a.mean(), rtol=1e-12)
    np.testing.assert_allclose(pre.scale, [filled_a.std(), train["b"].std(ddof=0), train["n"].std(ddof=0)],
                               rtol=1e-12)  # fmt: skip


def test_drop_missing_returns_a_complete_table_without_copying_it() -> None:
    table = _mixed_table(missing="drop")
    complete = Table(
        "t", table.frame.dropna().reset_index(drop=True), "label", table.features, missing="drop"
    )
    assert drop_missing(complete) is complete
    assert len(drop_missing(table).frame) == 297


def test_class_codes_number_labels_as_unique_numbers_their_text() -> None:
    labels = pd.Series([3, 10, 2, 10, 3, 1.5] * 5)
    _, expected = np.unique(labels.astype(str).to_numpy(), return_inverse=True)
    np.testing.assert_array_equal(class_codes(labels), expected)
    strings = pd.Series(LABELS[::-1])
    train, val = split_indices(len(strings), 0.3, seed=4, labels=class_codes(strings))
    want_train, want_val = split_indices(len(strings), 0.3, seed=4, labels=strings.to_numpy())
    np.testing.assert_array_equal(train, want_train)
    np.testing.assert_array_equal(val, want_val)


# ---- dataset.numeric: standard | robust | quantile ------------------------------------------------


def _numeric_table(scaling: str, rows: int = 3000) -> Table:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"normal": rng.normal(3, 2, rows), "skewed": rng.lognormal(0, 1, rows),
                          "counts": rng.poisson(1.5, rows).astype(float),
                          "y": rng.integers(0, 2, rows)})  # fmt: skip
    return Table("t", frame, "y", ["normal", "skewed", "counts"], numeric=scaling)


def test_robust_scaling_equals_sklearns_robust_scaler_fitted_on_the_training_rows() -> None:
    from sklearn.preprocessing import RobustScaler

    table = _numeric_table("robust")
    columns = table.frame[table.features]
    pre = Preprocessor.fit(table, np.arange(2000), classifier=True)
    expected = RobustScaler().fit(columns.iloc[:2000]).transform(columns)
    assert np.abs(pre.transform(table.frame) - expected).max() < 1e-5


def test_quantile_scaling_follows_sklearns_quantile_transformer_fitted_on_the_training_rows() -> None:
    """Equal at the knots; between them within 0.01 where the normal is near linear (|z| < 2): mltrain
    interpolates the normal scores, scikit-learn the levels (then takes the normal's quantile)."""
    from sklearn.preprocessing import QuantileTransformer

    table = _numeric_table("quantile")
    columns = table.frame[["normal", "skewed"]]
    pre = Preprocessor.fit(table, np.arange(2000), classifier=True)
    reference = QuantileTransformer(output_distribution="normal", n_quantiles=1000, subsample=10**9)
    expected = reference.fit(columns.iloc[:2000]).transform(columns)
    ours = pre.transform(table.frame)[:, :2]
    middle = np.abs(expected) < 2
    assert np.abs(ours - expected)[middle].max() < 0.01
    assert np.allclose(pre.quantiles["normal"], reference.quantiles_[:, 0])  # the same knots
    train = ours[:2000]
    assert abs(train.mean()) < 0.01 and abs(train.std() - 1) < 0.05  # the training rows: about N(0, 1)
    counts = pre.transform(table.frame)[:, 2]  # a count column: each value one score, in order
    by_value = pd.Series(counts).groupby(table.frame["counts"].to_numpy()).nunique()
    assert (by_value == 1).all()
    assert np.all(np.diff(pd.Series(counts).groupby(table.frame["counts"].to_numpy()).first()) > 0)


@pytest.mark.parametrize("scaling", ["standard", "robust", "quantile"])
def test_numeric_scaling_round_trips_through_json(scaling: str) -> None:
    table = _numeric_table(scaling, rows=500)
    pre = Preprocessor.fit(table, np.arange(400), classifier=True)
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored.scaling == scaling
    np.testing.assert_array_equal(restored.transform(table.frame), pre.transform(table.frame))


def test_a_preprocessing_file_from_before_dataset_numeric_loads_as_standard() -> None:
    table = _numeric_table("standard", rows=200)
    state = Preprocessor.fit(table, np.arange(150), classifier=True).to_dict()
    old = {k: v for k, v in state.items() if k not in ("scaling", "quantiles")}
    restored = Preprocessor.from_dict(old)
    assert restored.scaling == "standard" and restored.quantiles == {}
    current = Preprocessor.from_dict(state)
    np.testing.assert_array_equal(restored.transform(table.frame), current.transform(table.frame))


def test_quantile_map_of_the_export_equals_the_transform() -> None:
    """The ramps-and-steps form ONNX and TorchScript run gives what ``transform`` gives, ties included."""
    import torch

    from mltrain.serving.model import QuantileMap

    table = _numeric_table("quantile", rows=1500)
    pre = Preprocessor.fit(table, np.arange(1000), classifier=True)
    raw = table.frame[pre.numeric].to_numpy().copy()
    raw[:3] = [[-100.0, -1.0, -5.0], [100.0, 1e6, 50.0], [np.nan, 1.0, 2.0]]  # beyond the knots, a gap
    mapped = QuantileMap(pre)(torch.from_numpy(raw)).numpy()
    frame = pd.DataFrame(raw, columns=pre.numeric)
    np.testing.assert_allclose(mapped, pre.transform(frame), atol=1e-5, equal_nan=True)
