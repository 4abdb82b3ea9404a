"""Reading a table file for ``dataset=csv``: CSV, plain or compressed, and Parquet, without extra copies.

    frame = read_table(Path("big.parquet"), sep=",", columns=None, exact={"label"})
    for chunk in parquet_frames(Path("new.parquet"), {"a", "b"}, 10000, "input=new.parquet"): ...

* Parquet (``.parquet``, ``.pq``) needs pyarrow (``pip install 'mltrain[parquet]'``).
* CSV compressed as ``.gz``, ``.bz2``, ``.zip`` (one file inside), ``.xz`` or ``.zst`` is decompressed as
  it is read. With pyarrow installed a CSV file is parsed by pyarrow's multi-threaded reader (faster than
  pandas', and no Python object per string); without it, or when pyarrow cannot parse it, by pandas.
* 64-bit numeric columns other than ``exact`` ones (the target) become float32 as they are read, which
  halves their memory; the model sees float32 anyway. A float column stays float64 when float32's rounding
  at its largest magnitude would exceed a millionth of its range (say, values 1e9 +- 10), and an integer
  column when it holds values float32 cannot hold exactly (beyond 2**24).

Empty cells and pandas' missing-value markers (``NA``, ``NaN``, ``null``, ...) are missing values.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mltrain.data.columns import to_float32
from mltrain.data.fingerprint import Fingerprint
from mltrain.errors import DataError

PARQUET = (".parquet", ".pq")
COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
NA_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
             "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]  # fmt: skip
EXACT_INT = 2**24  # integers up to this magnitude are exact in float32
BLUR = 1e-6  # largest float32 rounding error allowed, as a share of a column's range


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET


def compression(path: Path) -> str | None:
    """``.gz``, ``.bz2``, ... when the file name says it is compressed."""
    suffix = path.suffix.lower()
    return suffix if suffix in COMPRESSED else None


def open_text(path: Path) -> IO[bytes]:
    """The file's (decompressed) bytes as a stream."""
    kind = compression(path)
    if kind == ".zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise DataError(f"{path.name} must hold exactly one file to read as CSV, it holds {len(members)}")
        return archive.open(members[0])
    if kind == ".zst":
        import zstandard

        return zstandard.open(path, "rb")
    openers: dict[str | None, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, None: open}
    return openers[kind](path, "rb")


def header(path: Path, sep: str) -> list[str]:
    """The column names as the file's first line spells them (repeats included), or the Parquet schema's."""
    if is_parquet(path):
        return list(_parquet(path).read_schema(path).names)
    with open_text(path) as f:
        first = pd.read_csv(f, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in first.iloc[0]]


def count_rows(path: Path) -> tuple[int, bool]:
    """``(rows, exact)``: a Parquet file's row count, or an estimate for a CSV file from its first
    megabytes (their line length, and for a compressed file how much they expand)."""
    if is_parquet(path):
        return _parquet(path).ParquetFile(path).metadata.num_rows, True
    size = path.stat().st_size
    if compression(path) == ".zip":
        with zipfile.ZipFile(path) as archive:
            size = sum(m.file_size for m in archive.infolist())
    with open(path, "rb") as raw:
        kind = compression(path)
        if kind in (None, ".zip"):
            with open_text(path) as text:
                sample = text.read(1 << 22)
            text_size = size
        else:
            stream = _decompressing(raw, kind)
            sample = stream.read(1 << 22)
            text_size = size * len(sample) / max(1, raw.tell())
    lines = sample.count(b"\n") or 1
    return max(0, round(text_size * lines / max(1, len(sample))) - 1), False


def _parquet(path: Path, source: str = "") -> Any:
    """``pyarrow.parquet``, or a :class:`DataError` that says how to install it (naming ``source``)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{source or path.name}: reading Parquet needs pyarrow; pip install 'mltrain[parquet]'"
        ) from None
    return pq


def parquet_frames(path: Path, wanted: set[str], rows: int | None, source: str) -> Iterator[pd.DataFrame]:
    """The ``wanted`` columns a Parquet file has, ``rows`` rows at a time (``None``: all in one frame).

    Each batch is read only when the one before it has been used, so a file larger than the memory can be
    worked through. Frames are indexed by row number from 0, continuing across batches; dictionary
    (categorical) columns come as their values, and pandas' metadata in the file is not applied, so the
    types are those a CSV of the same rows would give (an integer column with gaps: float64).

    Raises:
        DataError: pyarrow is not installed, or the file cannot be read or is not Parquet.
    """
    pq = _parquet(path, source)
    batches = _parquet_batches(pq, path, wanted, rows, source)
    start = 0
    while (batch := next(batches, None)) is not None:
        frame = batch.to_pandas(ignore_metadata=True, split_blocks=True, self_destruct=True)
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        yield frame


def _parquet_batches(pq: Any, path: Path, wanted: set[str], rows: int | None, source: str) -> Iterator[Any]:
    """pyarrow tables of the file's ``wanted`` columns, dictionaries decoded; one empty table for no rows."""
    import pyarrow as pa

    try:
        file = pq.ParquetFile(path)
        columns = [c for c in file.schema_arrow.names if c in wanted]
        if rows is None:
            yield _decoded(file.read(columns=columns))
            return
        empty = True
        for batch in file.iter_batches(batch_size=rows, columns=columns):
            empty = False
            yield _decoded(pa.Table.from_batches([batch]))
        if empty:  # one frame with the columns and no rows, as pandas reads a CSV of only a header
            yield _decoded(file.schema_arrow.empty_table().select(columns))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DataError(f"{source} is not a readable Parquet file: {' '.join(str(e).split())}") from e
    except OSError as e:
        raise DataError(f"{source}: cannot read it: {e.strerror or e}") from e


def _decoded(table: Any) -> Any:
    """The table with each dictionary-encoded (categorical) column cast to its values' type."""
    import pyarrow as pa

    if not any(pa.types.is_dictionary(f.type) for f in table.schema):
        return table
    plain = [
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema
    ]
    return table.cast(pa.schema(plain))


def _decompressing(raw: IO[bytes], kind: str) -> IO[bytes]:
    if kind == ".zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw)
    if kind == ".gz":
        return gzip.GzipFile(fileobj=raw)
    return bz2.BZ2File(raw) if kind == ".bz2" else lzma.LZMAFile(raw)


def read_table(
    path: Path,
    sep: str,
    columns: list[str] | None,
    exact: set[str],
    na_values: list[str] = (),
    source: str = "",
    fingerprint: Fingerprint | None = None,
) -> pd.DataFrame:
    """Read ``columns`` (all when ``None``) of a CSV or Parquet file into a frame, numbers as float32.

    Args:
        exact: columns kept as they are (the target).
        na_values: more strings that mean a missing value, besides pandas' own.
        source: how messages name the file (``dataset.path=data.csv``).
        fingerprint: hashes the file's bytes as they are read (``data/fingerprint.py``).

    Raises:
        DataError: the file cannot be parsed, or it needs a package that is not installed.
    """
    source = source or path.name
    na_values = [str(v) for v in na_values]
    if fingerprint is not None and compression(path) == ".zip":  # zipfile seeks: hash it on its own
        fingerprint.hash_separately()
        fingerprint = None
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        if is_parquet(path):
            _parquet(path)
        return _read_csv_pandas(path, sep, columns, exact, na_values, source, fingerprint)
    if not is_parquet(path) and len(sep) != 1:  # pyarrow splits on one character; pandas takes a regex
        return _read_csv_pandas(path, sep, columns, exact, na_values, source, fingerprint)
    return _read_arrow(path, sep, columns, exact, na_values, source, fingerprint)


def _read_arrow(
    path: Path, sep: str, columns: list[str] | None, exact: set[str], na_values: list[str], source: str,
    fingerprint: Fingerprint | None,
) -> pd.DataFrame:  # fmt: skip
    import pyarrow as pa

    try:
        if is_parquet(path):
            table = _read_parquet(path, columns, fingerprint)
        elif fingerprint is not None:
            with fingerprint.stream() as raw:
                table = _read_csv_arrow(path, sep, columns, na_values, raw)
        else:
            table = _read_csv_arrow(path, sep, columns, na_values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        if is_parquet(path):
            raise DataError(f"{source} is not a readable Parquet file: {e}") from e
        # pandas copes with more (and hashes the file as it reads it)
        return _read_csv_pandas(path, sep, columns, exact, na_values, source, fingerprint)
    # one new table: set_column in a loop would copy the table's column list once per column (quadratic)
    narrowed = [
        c if name in exact else _float32_column(c)
        for name, c in zip(table.column_names, table.columns, strict=True)
    ]
    table = pa.Table.from_arrays(narrowed, names=table.column_names)
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _read_parquet(path: Path, columns: list[str] | None, fingerprint: Fingerprint | None) -> Any:
    """A Parquet file as an Arrow table; with a fingerprint, hashed and parsed from one memory map."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fingerprint is None:
        return pq.read_table(path, columns=columns)
    with pa.memory_map(str(path)) as mapped:
        fingerprint.hash_buffer(mapped.read_buffer())
        mapped.seek(0)
        return pq.read_table(mapped, columns=columns)


def _read_csv_arrow(
    path: Path, sep: str, columns: list[str] | None, na_values: list[str], raw: IO[bytes] | None = None
) -> Any:
    """pyarrow's CSV reader, missing values as pandas sees them; it decompresses .gz, .bz2 and .zst.

    ``raw``: the file's bytes as a stream (a fingerprint's), read instead of opening ``path``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(
        null_values=NA_VALUES + na_values,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        include_columns=columns or [],
    )
    kind = compression(path)
    codecs = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
    if raw is not None:
        source: Any = pa.CompressedInputStream(raw, codecs[kind]) if kind in codecs else raw
        source = _decompressing(raw, kind) if kind == ".xz" else source
    else:
        source = str(path) if kind in (None, *codecs) else open_text(path)
    options = pacsv.ParseOptions(delimiter=sep)
    return pacsv.read_csv(source, parse_options=options, convert_options=convert)


def _float32_column(column: Any) -> Any:
    """A pyarrow column as float32 when :func:`fits_float32` says its values survive it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_float64(column.type) or pa.types.is_int64(column.type)):
        return column
    bounds = pc.min_max(column).as_py()
    if fits_float32(bounds["min"], bounds["max"], pa.types.is_integer(column.type)):
        return column.cast(pa.float32())
    return column


def fits_float32(low: float | None, high: float | None, integers: bool) -> bool:
    """Whether a column whose values lie in ``[low, high]`` can become float32 (see the module doc)."""
    if low is None or high is None:  # only missing values
        return True
    largest = max(abs(low), abs(high))
    if integers:
        return largest <= EXACT_INT
    return low == high or not np.isfinite(largest) or largest * 2.0**-24 <= BLUR * (high - low)


def _read_csv_pandas(
    path: Path, sep: str, columns: list[str] | None, exact: set[str], na_values: list[str], source: str,
    fingerprint: Fingerprint | None = None,
) -> pd.DataFrame:  # fmt: skip
    try:
        if fingerprint is None:
            frame = pd.read_csv(path, sep=sep, usecols=columns, na_values=na_values or None)
        else:
            with fingerprint.stream() as raw:
                kind = compression(path)
                text = _decompressing(raw, kind) if kind else raw
                frame = pd.read_csv(text, sep=sep, usecols=columns, na_values=na_values or None)
    except ImportError as e:
        raise DataError(f"{source}: {e}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{source} is not a readable CSV file: {' '.join(str(e).split())}") from e
    except OSError as e:
        raise DataError(f"{source}: cannot read {path}: {e.strerror or e}") from e
    kept = {}  # one new array per column, so the parsed block is freed with ``frame``
    for name in frame.columns:
        values = frame[name]
        narrow = name not in exact and values.dtype in (np.float64, np.int64) and not values.empty
        if narrow and fits_float32(values.min(), values.max(), values.dtype == np.int64):
            kept[name] = to_float32(values)
        else:
            kept[name] = values.copy()
    del frame, values
    return pd.DataFrame(kept, copy=False)
