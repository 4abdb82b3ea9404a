"""A data file's SHA-256, taken while the loader reads it, equals ``hashlib`` over the file read on its own
(``sha256sum``), for every format ``dataset=csv`` reads; and the loader's read is the only full read."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mltrain.data import datasets, fingerprint, tables
from mltrain.data.fingerprint import Fingerprint

FRAME = pd.DataFrame(
    {"a": range(2000), "b": [f"x{i % 7}" for i in range(2000)], "y": [i % 3 for i in range(2000)]}
)


def written(path: Path) -> Path:
    """``FRAME`` as CSV at ``path``, compressed as its suffix says (or Parquet)."""
    text = FRAME.to_csv(index=False).encode()
    if path.suffix == ".parquet":
        FRAME.to_parquet(path)
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data.csv", text)
    else:
        openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".csv": open}
        with openers[path.suffix](path, "wb") as f:
            f.write(text)
    return path


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.csv.bz2", "d.csv.xz", "d.csv.zip", "d.parquet"])
def test_the_hash_is_the_file_s_sha256_and_the_rows_are_the_file_s(tmp_path: Path, name: str) -> None:
    pytest.importorskip("pyarrow")
    path = written(tmp_path / name)
    table = datasets.csv(str(path), target="y")
    assert table.source == {
        "path": str(path.resolve()), "file": name, "bytes": path.stat().st_size, "rows": len(FRAME),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }  # fmt: skip
    pd.testing.assert_frame_equal(table.frame, tables.read_table(path, ",", None, {"y"}), check_dtype=True)


def test_pandas_reader_hashes_too(tmp_path: Path) -> None:
    """A two-character separator is pandas' (pyarrow splits on one character)."""
    path = tmp_path / "d.csv"
    path.write_text(FRAME.to_csv(index=False, sep=";").replace(";", ";;"))
    table = datasets.csv(str(path), target="y", sep=";;")
    assert table.source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(table.frame) == len(FRAME)


def test_the_loader_s_read_is_the_only_full_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every byte the parser reads passes through the hash once; nothing is left to hash after it."""
    path = written(tmp_path / "d.csv")
    through: list[int] = []
    drained: list[int] = []
    original_readinto, original_drain = fingerprint._HashingReader.readinto, fingerprint._HashingReader.drain

    def counting(self, buffer):  # type: ignore[no-untyped-def]
        n = original_readinto(self, buffer)
        through.append(n)
        return n

    def draining(self):  # type: ignore[no-untyped-def]
        before = self.raw.tell()
        original_drain(self)
        drained.append(self.raw.tell() - before)

    monkeypatch.setattr(fingerprint._HashingReader, "readinto", counting)
    monkeypatch.setattr(fingerprint._HashingReader, "drain", draining)
    found = Fingerprint(path)
    frame = tables.read_table(path, ",", None, {"y"}, fingerprint=found)
    assert sum(through) == path.stat().st_size and drained == [0] and len(frame) == len(FRAME)
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
