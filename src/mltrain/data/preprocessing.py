"""Turning a raw :class:`Table` into float tensors, fitted on the training rows only.

Numeric columns are scaled as ``dataset.numeric`` says (``standard``: minus the mean, over the standard
deviation; ``robust``: minus the median, over the interquartile range; ``quantile``: mapped through the
training rows' quantiles onto a standard normal), categorical columns (strings, booleans) one-hot encoded,
class labels mapped to indices in sorted order, regression targets standardised. The fitted state is plain
JSON (``preprocessing.json`` in the run directory), so ``predict`` can apply it to a raw CSV or Parquet file
later.

Large tables are worked on one column at a time, straight into the float32 matrix the model takes:
no copy of the whole table (a 5-million-row table has no memory to spare for one), and no Python object
per row.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import MISSING, asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from mltrain.data.columns import is_number_column, missing_columns, to_float32
from mltrain.data.datasets import CLASSES, CONTINUOUS, Table
from mltrain.data.saved_encoding import encoding_problem
from mltrain.errors import DataError
from mltrain.files import DamagedFile

log = logging.getLogger(__name__)

NUMERIC_SCALINGS = ("standard", "robust", "quantile")  # dataset.numeric
N_QUANTILES = 1000  # quantile knots kept per column (scikit-learn's QuantileTransformer default)
QUANTILE_BOUND = 1e-7  # the lowest and highest knot map to the normal's quantiles at 1e-7 and 1 - 1e-7


@dataclass
class TargetInfo:
    """What the target column holds: ``classes`` or ``continuous`` (or ``integers``, either)."""

    kind: str
    n_classes: int
    is_numeric: bool
    example: str


def describe_target(table: Table) -> TargetInfo:
    """Classify the target column so the loss and metrics can be checked against it."""
    y = table.frame[table.target].dropna()
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    n_unique = int(y.nunique())
    kind = table.target_kind
    if kind is None:
        if not numeric:
            kind = CLASSES
        elif np.all(np.mod(_finite(y.to_numpy(dtype=float)), 1) == 0):
            kind = "integers"
        else:
            kind = CONTINUOUS
    example = ", ".join(repr(v) for v in y.unique()[:3].tolist())
    return TargetInfo(kind, n_unique, numeric, example)


def missing_counts(table: Table) -> dict[str, int]:
    """Missing values per used column (features and target), only the columns that have any."""
    columns = dict.fromkeys(c for c in [*table.features, table.target] if c in table.frame.columns)
    counts = {c: int(table.frame[c].isna().sum()) for c in columns}
    return {c: n for c, n in counts.items() if n > 0}


def drop_missing(table: Table) -> Table:
    """Rows with a missing target are always dropped; with ``missing=drop`` any missing feature too.

    A table with nothing to drop is returned as it is (not copied).
    """
    no_target = table.frame[table.target].isna().to_numpy()
    missing = no_target.copy()
    if table.missing == "drop":
        for column in dict.fromkeys(table.features):
            missing |= table.frame[column].isna().to_numpy()
    if not missing.any():
        return table
    frame = table.frame.loc[~missing].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{table.name}: no rows left after dropping rows with missing values")
    why = [f"{no_target.sum():,} with no target {table.target!r}"] if no_target.any() else []
    if missing.sum() > no_target.sum():
        why.append(f"{missing.sum() - no_target.sum():,} with a missing feature (dataset.missing=drop)")
    log.warning("%s: dropped %s of %s rows: %s", table.name, f"{missing.sum():,}", f"{len(missing):,}",
                ", ".join(why))  # fmt: skip
    return dataclasses.replace(table, frame=frame, dropped_rows=int(missing.sum()))


def class_codes(labels: pd.Series) -> np.ndarray:
    """Class labels as integers numbered in the sorted order of their text, as ``np.unique`` numbers
    ``labels.astype(str)``, so splits stratified on them are the same, without a string per row."""
    codes, uniques = pd.factorize(labels)
    _, order = np.unique(np.array([str(u) for u in uniques]), return_inverse=True)
    return order[codes]


def split_indices(
    n: int, fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle split; stratified when ``labels`` are given (each class keeps its share).

    Written in NumPy rather than scikit-learn's ``train_test_split`` so CSV runs need not import
    scikit-learn (about 0.9 s of start-up on this machine). Like scikit-learn, the validation part has
    ``ceil(fraction * n)`` rows; per class, the shares are rounded by largest remainder.
    """
    rng = np.random.default_rng(seed)
    n_val = int(np.ceil(fraction * n))
    if labels is None:
        order = rng.permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    classes, codes = np.unique(labels, return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    exact = counts * n_val / n
    per_class = np.floor(exact).astype(int)
    remainder = n_val - per_class.sum()
    per_class[np.argsort(-(exact - per_class), kind="stable")[:remainder]] += 1
    val = [rng.permutation(np.flatnonzero(codes == c))[: per_class[c]] for c in range(len(classes))]
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(n), val_idx), val_idx


@dataclass
class Preprocessor:
    """Fitted encoding and scaling, serialisable as JSON."""

    features: list[str]
    categories: dict[str, list[Any]]
    numeric: list[str]
    fill: dict[str, Any]
    mean: list[float]
    scale: list[float]
    classes: list[Any] | None
    target: str
    target_mean: float | None = None
    target_scale: float | None = None
    float32: list[str] = dataclasses.field(default_factory=list)  # numeric columns training read as float32
    scaling: str = "standard"  # dataset.numeric; files of an older mltrain lack it: standard
    quantiles: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # scaling=quantile: knots

    @classmethod
    def fit(cls, table: Table, rows: np.ndarray, classifier: bool) -> Preprocessor:
        """Fit on the ``rows`` of ``table.frame``; class labels come from every row (they are not fitted)."""
        frame, rows = table.frame, np.asarray(rows)
        empty = [c for c in table.features if not frame[c].notna().to_numpy()[rows].any()]
        if empty:  # a column with values only outside the training rows: nothing to fit its encoding on
            raise DataError(
                f"{table.name}: column {empty[0]!r} has no values in the {len(rows)} training rows; "
                "leave it out with dataset.features=[...] or give it values"
            )
        categorical = [c for c in table.features if not is_number_column(frame[c])]
        text = set(categorical)
        numeric = [c for c in table.features if c not in text]
        fill: dict[str, Any] = {}
        mean, scale, quantiles = [], [], {}
        for c in numeric:  # a column at a time: no copy of the table's training rows
            values = _floats(frame[c])[rows]
            if table.missing == "impute":  # every column: later rows may have gaps the training rows lack
                fill[c] = float(np.nanmedian(values)) if len(values) else float("nan")
                values = np.where(np.isnan(values), fill[c], values)
            if table.numeric == "quantile":
                knots = np.quantile(values, np.linspace(0, 1, min(N_QUANTILES, len(values))))
                quantiles[c] = [float(v) for v in np.maximum.accumulate(knots)]  # rounding: non-decreasing
                mean.append(0.0)
                scale.append(1.0)
            elif table.numeric == "robust":  # scikit-learn's RobustScaler; a constant middle half: the std
                low, median, high = np.quantile(values, [0.25, 0.5, 0.75])
                spread = high - low if high > low else values.std()
                mean.append(float(median))
                scale.append(float(spread) if spread > 0 else 1.0)
            else:
                std = values.std()
                mean.append(float(values.mean()))
                scale.append(float(std) if std > 0 else 1.0)
        train = {c: frame[c].iloc[rows] for c in categorical}
        if table.missing == "impute":
            fill |= {c: _py(train[c].mode().iloc[0]) for c in categorical if train[c].notna().any()}
        categories = {c: sorted(train[c].dropna().unique().tolist(), key=str) for c in categorical}
        classes = sorted(frame[table.target].dropna().unique().tolist(), key=_sort_key)
        y = _floats(frame[table.target])[rows] if not classifier else None
        return cls(
            features=list(table.features),
            categories=categories,
            numeric=numeric,
            fill=fill,
            mean=mean,
            scale=scale,
            classes=[_py(c) for c in classes] if classifier else None,
            target=table.target,
            target_mean=None if classifier else float(y.mean()),
            target_scale=None if classifier else float(y.std() or 1.0),
            float32=[c for c in numeric if frame[c].dtype == np.float32],
            scaling=table.numeric,
            quantiles=quantiles,
        )

    @property
    def n_features(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.categories.values())

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode and scale the feature columns of a raw frame into a float32 matrix.

        Each column is written straight into the matrix, so the work memory is one column, not the table.
        A column training read as float32 (``float32``) is rounded to float32 first when it comes as
        float64, so new rows give the model the very inputs the same rows gave it in training.
        """
        missing = missing_columns(frame, self.features)
        if missing:
            raise DataError(f"the data has no column {', '.join(map(repr, missing))}")
        out = np.empty((len(frame), self.n_features), dtype=np.float32)
        narrowed = set(self.float32)
        for j, column in enumerate(self.numeric):
            raw = frame[column]
            narrow = column in narrowed and raw.dtype != np.float32
            values = to_float32(raw).astype(np.float64) if narrow else _floats(raw)
            if column in self.fill:
                values = np.where(np.isnan(values), self.fill[column], values)
            if column in self.quantiles:
                values = quantile_normal(values, np.asarray(self.quantiles[column]))
            out[:, j] = (values - self.mean[j]) / self.scale[j]
        start = len(self.numeric)
        for column, cats in self.categories.items():
            values = frame[column].fillna(self.fill[column]) if column in self.fill else frame[column]
            codes = pd.Index(cats).get_indexer(values)  # -1 for unseen values and NaN
            block = out[:, start : start + len(cats)]
            block[:] = 0.0
            seen = np.flatnonzero(codes >= 0)
            block[seen, codes[seen]] = 1.0
            start += len(cats)
        return out

    def encode_target(self, values: pd.Series) -> np.ndarray:
        """Class indices (int64) or standardised values (float32)."""
        if self.classes is None:
            return ((values.to_numpy(dtype=np.float64) - self.target_mean) / self.target_scale).astype(
                np.float32
            )
        codes = pd.Index(self.classes).get_indexer(values).astype(np.int64)
        if (codes < 0).any():
            unseen = sorted({str(v) for v in values[codes < 0]})[:5]
            raise DataError(f"column {self.target!r} has labels the model never saw: {', '.join(unseen)}")
        return codes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: Any) -> Preprocessor:
        """The preprocessing ``to_dict`` wrote, every field checked (``data/saved_encoding.py``).

        Raises:
            DamagedFile: a field is missing, unknown, of the wrong type or length, or not finite.
        """
        every = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is f.default_factory is MISSING]
        problem = encoding_problem(state, required, [k for k in every if k not in required])
        if problem:
            raise DamagedFile(problem)
        return cls(**state)


def quantile_normal(values: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``values`` through the training quantiles ``knots`` onto a standard normal, as scikit-learn's
    ``QuantileTransformer(output_distribution="normal")``, but interpolated between the knots' normal
    scores rather than their levels (the same at the knots; no inverse error function in NumPy).

    Values outside the knots get the end knots' scores (about +-5.2); tied knots (a column of few distinct
    values) give a value the mean of its knots' scores, by interpolating up and down, as scikit-learn does.
    A missing value stays missing.
    """
    scores = normal_scores(len(knots))
    if len(knots) == 1:
        return np.where(np.isnan(values), np.nan, 0.0)
    up = np.interp(values, knots, scores)
    down = -np.interp(-values, -knots[::-1], -scores[::-1])
    return 0.5 * (up + down)


def normal_scores(n: int) -> np.ndarray:
    """The standard normal's quantiles at ``n`` evenly spaced levels, the ends moved in to the bound."""
    levels = np.clip(np.linspace(0, 1, n), QUANTILE_BOUND, 1 - QUANTILE_BOUND)
    normal = NormalDist()
    return np.array([normal.inv_cdf(float(p)) for p in levels])


def _finite(values: np.ndarray) -> np.ndarray:
    """The finite values (infinite ones are reported by ``data_checks``, not tripped over here)."""
    return values[np.isfinite(values)]


def _floats(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 (missing values as NaN): a view when it is float64 already."""
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _py(value: Any) -> Any:
    """A NumPy scalar as the plain Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float, np.number)) else (1, str(value))
