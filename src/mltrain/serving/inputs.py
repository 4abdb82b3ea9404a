"""Reading a command's ``input=`` file, CSV or Parquet, its columns typed as the run's training read them.

    frame = read_input(Path("new.parquet"), saved, "input=new.parquet")        # evaluate, monitor
    for chunk in input_chunks(Path("big.parquet"), saved, 10000, "input=big.parquet", extra=["id"]):
        ...                                                                      # predict

Used by ``mltrain evaluate``, ``predict`` and ``monitor``, and by ``Run.predict``/``Run.evaluate`` given a
path. The kind is told by the file name, as for ``dataset.path``: ``.parquet`` or ``.pq`` is Parquet (it
needs pyarrow: ``pip install 'mltrain[parquet]'``, read through ``data/tables.py``), anything else
CSV, read by pandas with the run's ``dataset.sep`` and ``dataset.na_values``. Only the columns the run
needs are read (its features, its target, and ``extra``). A numeric column the run's training read as
float32 becomes float32 (half the memory, and the very numbers the model saw), and a column that held text
in training is read as text from a CSV (``"01"`` stays ``"01"``), so the same rows give the same
predictions from either kind of file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mltrain.data import tables
from mltrain.data.columns import is_number_column, to_float32
from mltrain.errors import DataError
from mltrain.files import special_kind
from mltrain.serving.saved_model import SavedRun, csv_options


def read_input(path: Path, saved: SavedRun, source: str, extra: Iterable[str] = ()) -> pd.DataFrame:
    """Every row of the file in one frame, indexed from 0.

    Args:
        path: the CSV or Parquet file.
        saved: the run the rows are for (one fold's, for a k-fold parent: they share their columns).
        source: how messages name the file (``input=new.parquet``).
        extra: more columns to read, exactly as they are (the ``id`` column).

    Raises:
        DataError: no such file, an empty or unreadable one, a Parquet file without pyarrow installed.
    """
    return next(input_chunks(path, saved, None, source, extra))


def input_chunks(
    path: Path, saved: SavedRun, rows: int | None, source: str, extra: Iterable[str] = ()
) -> Iterator[pd.DataFrame]:
    """The file's rows, at most ``rows`` at a time (``None``: all in one frame), each chunk read only when
    the one before it has been used; the index counts rows from 0 across chunks, so messages can name a row.

    The file's existence is checked at once; an unreadable file is reported when the first chunk is read.

    Raises:
        DataError: as :func:`read_input`.
    """
    path = Path(path)
    if path.is_dir():  # a partitioned Parquet data set is a directory: name one of its files
        raise DataError(f"{source} is a directory; name one CSV or Parquet file")
    odd = special_kind(path)
    if odd:  # checked before anything opens it: reading a named pipe would wait for a writer
        raise DataError(f"{source} is {odd}, not a regular file; name one CSV or Parquet file")
    if not path.is_file():
        raise DataError(f"{source}: no such file")
    pre = saved.preprocessor
    exact = {pre.target, *extra}
    wanted = {*pre.features, *exact}
    if tables.is_parquet(path):
        frames = tables.parquet_frames(path, wanted, rows, source)
    else:
        text = [c for c, values in pre.categories.items() if _all_text(values)]
        text += [pre.target] if _all_text(pre.classes or []) else []
        options = csv_options(saved) | {"dtype": dict.fromkeys(text, str)}
        frames = _csv_frames(path, wanted, rows, source, options)
    return _as_trained(frames, [c for c in pre.float32 if c not in exact])


def _csv_frames(
    path: Path, wanted: set[str], rows: int | None, source: str, options: dict
) -> Iterator[pd.DataFrame]:
    """``pd.read_csv`` of the ``wanted`` columns, whole or in chunks; a bad file is a ``DataError``."""
    try:
        read = pd.read_csv(path, usecols=lambda c: c in wanted, chunksize=rows, **options)
        yield from [read] if rows is None else read
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{source} is empty") from e
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{source} is not a readable CSV file: {' '.join(str(e).split())}") from e
    except OSError as e:  # a read error: cli.py would otherwise report it as "cannot write"
        raise DataError(f"{source}: cannot read it: {e.strerror or e}") from e


def _as_trained(frames: Iterator[pd.DataFrame], narrowed: list[str]) -> Iterator[pd.DataFrame]:
    """Each frame with the ``narrowed`` columns that hold numbers as float32, as training read them
    (a column holding text is left for ``check_frame`` to report)."""
    for frame in frames:
        for column in narrowed:
            values = frame.get(column)
            if values is not None and is_number_column(values) and values.dtype != np.float32:
                frame[column] = to_float32(values)
        yield frame


def _all_text(values: list) -> bool:
    return bool(values) and all(isinstance(v, str) for v in values)
