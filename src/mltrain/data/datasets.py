"""Datasets by name: scikit-learn's bundled real datasets, generated ``synthetic`` data and ``csv`` files.

A loader returns a :class:`Table` of raw columns; nothing is encoded or scaled here, because encoding and
scaling are fitted on the training rows only (see ``data/preprocessing.py``). scikit-learn is
imported inside the loaders that use it, so CSV runs start without paying for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mltrain.components.registry import Registry
from mltrain.data import memory, tables
from mltrain.data.fingerprint import Fingerprint
from mltrain.errors import DataError
from mltrain.files import special_kind

CLASSES, CONTINUOUS = "classes", "continuous"


@dataclass
class Table:
    """Raw rows of a dataset.

    Attributes:
        name: how messages refer to it (``dataset 'digits'``, ``data.csv``).
        frame: every column, features and target, as loaded.
        target: name of the target column.
        features: names of the feature columns, in order.
        target_kind: ``classes`` or ``continuous`` when the dataset says so; ``None`` lets the loss decide
            (an integer CSV column can be class labels or a count to regress).
        input_shape: ``(C, H, W)`` for image-shaped rows (digits), else ``None``.
        missing: ``dataset.missing``: ``error``, ``drop`` or ``impute``.
        numeric: ``dataset.numeric``: ``standard``, ``robust`` or ``quantile`` scaling of numeric columns.
        features_given: whether the user chose ``features`` (``dataset.features``) rather than taking
            every other column; a suspicious column the user chose is used with a warning, not refused.
        dropped_rows: rows ``drop_missing`` left out of ``frame`` (recorded in ``summary.json``).
        source: a file's path, size, row count and SHA-256, taken as it was read (``None`` for a
            bundled or generated dataset).
    """

    name: str
    frame: pd.DataFrame
    target: str
    features: list[str]
    target_kind: str | None = None
    input_shape: tuple[int, ...] | None = None
    missing: str = "error"
    features_given: bool = False  # the user listed dataset.features (else: every column but the target)
    dropped_rows: int = 0  # rows left out for a missing target (or feature, dataset.missing=drop)
    source: dict | None = None  # the file's facts (data/fingerprint.py), for summary.json's provenance
    numeric: str = "standard"  # dataset.numeric: how numeric feature columns are scaled (data/preprocessing)


DATASETS: Registry = Registry("dataset")


def _bundled(name: str, loader: str, kind: str, shape: tuple[int, ...] | None = None) -> Table:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)(as_frame=True)
    frame = bunch.frame.copy()
    target = "target"
    if kind == CLASSES and name != "digits":  # label rows with the class names scikit-learn ships
        frame[target] = np.asarray(bunch.target_names)[frame[target].to_numpy()]
    features = [c for c in frame.columns if c != target]
    return Table(f"dataset '{name}'", frame, target, features, kind, shape)


@DATASETS.register("digits")
def digits() -> Table:
    return _bundled("digits", "load_digits", CLASSES, (1, 8, 8))


@DATASETS.register("iris")
def iris() -> Table:
    return _bundled("iris", "load_iris", CLASSES)


@DATASETS.register("wine")
def wine() -> Table:
    return _bundled("wine", "load_wine", CLASSES)


@DATASETS.register("breast_cancer")
def breast_cancer() -> Table:
    return _bundled("breast_cancer", "load_breast_cancer", CLASSES)


@DATASETS.register("diabetes")
def diabetes() -> Table:
    return _bundled("diabetes", "load_diabetes", CONTINUOUS)


@DATASETS.register("synthetic")
def synthetic(
    task: str = "classification",
    rows: int = 2000,
    features: int = 20,
    classes: int = 3,
    informative: int | None = None,
    noise: float = 0.1,
    random_state: int = 0,
) -> Table:
    import sklearn.datasets

    if task == "classification":
        x, y = sklearn.datasets.make_classification(
            n_samples=rows,
            n_features=features,
            n_informative=informative or max(2, features // 2),
            n_redundant=0,
            n_classes=classes,
            n_clusters_per_class=1,
            flip_y=noise,
            random_state=random_state,
        )
        kind = CLASSES
    else:
        x, y = sklearn.datasets.make_regression(
            n_samples=rows, n_features=features, n_informative=informative or features, noise=noise,
            random_state=random_state,
        )  # fmt: skip
        kind = CONTINUOUS
    columns = [f"x{i}" for i in range(features)]
    frame = pd.DataFrame(x.astype(np.float32), columns=columns)
    frame["target"] = y
    return Table(f"dataset 'synthetic' ({task})", frame, "target", columns, kind)


@DATASETS.register("csv")
def csv(
    path: str,
    target: str,
    features: list[str] | None = None,
    missing: str = "error",
    sep: str = ",",
    na_values: list[str] | None = None,
    check_memory: bool = True,
) -> Table:
    """Read a CSV (plain or compressed) or Parquet file (``data/tables.py``); columns are checked
    by ``validate`` so every problem is reported at once.

    Only the target and ``features`` are read when every one of them is in the file. With
    ``check_memory``, a file too large for the memory available is refused before it is read.

    Raises:
        DataError: no such file, an unreadable one, an empty separator, duplicate column names, a file
            too large for the memory.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"dataset.path={path}: {_not_a_file(file)}")
    if not sep:
        raise DataError("dataset.sep='' is empty; use the column separator, e.g. dataset.sep=';'")
    names = _header(file, path, sep)
    repeated = sorted(str(c) for c, n in Counter(names).items() if n > 1)
    if repeated:
        raise DataError(
            f"dataset.path={path} has more than one column named {', '.join(map(repr, repeated))}; "
            "rename them in the file so each column has its own name"
        )
    wanted = {target, *features} if features is not None else None
    if wanted is not None and not set(wanted) <= set(names):
        wanted = None  # read everything, so the error can list the columns there are
    if check_memory:
        rows, exact = tables.count_rows(file)
        n = len(set(wanted or names))
        memory.check_fits(memory.estimate_bytes(rows, n, tables.is_parquet(file)),
                          f"dataset.path={path} ({'' if exact else 'about '}{rows:,} rows x {n} columns)",
                          "dataset.check_memory=false")  # fmt: skip
    columns = [c for c in names if c in wanted] if wanted else None  # in the file's order
    fingerprint = Fingerprint(file)
    frame = _read(file, path, sep, columns, target, na_values or [], fingerprint)
    if frame.empty:
        raise DataError(f"dataset.path={path} has no data rows")
    chosen = list(features) if features is not None else [c for c in frame.columns if c != target]
    return Table(file.name, frame, target, chosen, None, None, missing, features is not None,
                 source=fingerprint.facts(len(frame)))  # fmt: skip


def _read(
    file: Path, path: str, sep: str, columns: list[str] | None, target: str, na_values: list[str],
    fingerprint: Fingerprint,
) -> pd.DataFrame:  # fmt: skip
    """The table, hashed as it is read; running out of memory while reading it is a :class:`DataError`
    naming the file and the limit (the memory check's estimate can fall short, or be turned off)."""
    try:
        where = f"dataset.path={path}"
        return tables.read_table(file, sep, columns, {target}, na_values, where, fingerprint)
    except MemoryError:
        raise DataError(
            f"dataset.path={path}: ran out of memory while reading it ({memory.budget()[1]}); use a sample "
            "of the rows, fewer columns (dataset.features), or raise the limit"
        ) from None


def _not_a_file(file: Path) -> str:
    """Why ``file`` cannot be read as a table, found without opening it (a named pipe would wait)."""
    if file.is_dir():
        return "is a directory"
    odd = special_kind(file)
    if odd:
        return f"is {odd}, not a regular file; name a CSV or Parquet file"
    return f"no such file (looked for {file.resolve()})"


def _header(file: Path, path: str, sep: str) -> list[str]:
    """The file's column names; a file that cannot be read is a :class:`DataError` naming the key."""
    try:
        return tables.header(file, sep)
    except ImportError as e:
        raise DataError(f"dataset.path={path}: {e}; pip install 'mltrain[parquet]'") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError, EOFError) as e:
        what, why = "Parquet" if tables.is_parquet(file) else "CSV", " ".join(str(e).split())
        raise DataError(f"dataset.path={path} is not a readable {what} file: {why}") from e
    except OSError as e:
        raise DataError(f"dataset.path={path}: cannot read {file}: {e.strerror or e}") from e


def check_synthetic(kwargs: dict) -> list[str]:
    """Range problems of the synthetic generator's knobs."""
    problems = []
    if kwargs.get("task") not in ("classification", "regression"):
        problems.append(
            f"dataset.task={kwargs.get('task')} is not valid; choose from classification, regression"
        )
    for key, low in (("rows", 10), ("features", 1), ("classes", 2)):
        if kwargs.get(key, low) < low:
            problems.append(f"dataset.{key} must be >= {low}, got {kwargs[key]}")
    informative = kwargs.get("informative") or max(2, kwargs.get("features", 2) // 2)
    if kwargs.get("task") == "classification" and kwargs.get("classes", 2) > 2**informative:
        problems.append(
            f"dataset.classes={kwargs['classes']} needs at least {int(np.ceil(np.log2(kwargs['classes'])))} "
            f"informative features, got dataset.informative={informative}"
        )
    return problems
