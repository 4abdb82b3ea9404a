"""A data file's size, SHA-256 and row count, taken while the loader reads it: the bytes are read once.

    fingerprint = Fingerprint(Path("big.csv"))
    with fingerprint.stream() as raw:          # the file's bytes, hashed as the parser pulls them
        frame = pd.read_csv(raw)
    fingerprint.facts(len(frame))              # {"path", "file", "bytes", "rows", "sha256"}

A CSV file (plain, ``.gz``, ``.bz2``, ``.xz``, ``.zst``) is hashed as the parser reads its raw bytes; what
the parser left unread (nothing, for a whole-file read) is hashed when the stream closes. A Parquet file is
memory-mapped, hashed, then parsed from the same mapped pages (pyarrow reads Parquet by ranges, not front
to back), so it too comes from the disk once. A ``.zip`` archive is the one exception: ``zipfile`` seeks,
so its bytes are hashed in a pass of their own before it is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 20  # bytes hashed at a time when draining or hashing a mapped file


class _HashingReader(io.RawIOBase):
    """A read-only, front-to-back view of a binary file that feeds every byte read to ``sha``."""

    def __init__(self, raw: IO[bytes], sha: Any) -> None:
        self.raw, self.sha, self.position = raw, sha, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer) or 0
        self.sha.update(memoryview(buffer)[:n])
        self.position += n
        return n

    def tell(self) -> int:
        return self.position

    def drain(self) -> None:
        """Hash the bytes the parser did not read (a parser may stop before the end of the file)."""
        while chunk := self.raw.read(CHUNK):
            self.sha.update(chunk)


class Fingerprint:
    """The SHA-256 of one file as it is read; :meth:`facts` once the rows are known."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.sha256: str | None = None

    @contextlib.contextmanager
    def stream(self) -> Iterator[IO[bytes]]:
        """The file's raw bytes, buffered, hashed as they are read; the digest is taken on a clean exit."""
        sha = hashlib.sha256()
        with open(self.path, "rb") as raw:
            hashing = _HashingReader(raw, sha)
            yield io.BufferedReader(hashing, CHUNK)
            hashing.drain()
        self.sha256 = sha.hexdigest()

    def hash_buffer(self, buffer: Any) -> None:
        """Hash a memory-mapped file's buffer (Parquet), a chunk at a time (hashlib releases the GIL)."""
        sha, view = hashlib.sha256(), memoryview(buffer)
        for start in range(0, len(view), CHUNK * 16):
            sha.update(view[start : start + CHUNK * 16])
        self.sha256 = sha.hexdigest()

    def hash_separately(self) -> None:
        """Hash the file in a pass of its own (a ``.zip`` archive, whose reader seeks)."""
        with self.stream() as stream:
            while stream.read(CHUNK * 16):
                pass

    def facts(self, rows: int) -> dict[str, Any]:
        """``{"path", "file", "bytes", "rows", "sha256"}``: what ``summary.json``'s provenance records."""
        return {
            "path": str(self.path.resolve()),
            "file": self.path.name,
            "bytes": self.path.stat().st_size,
            "rows": rows,
            "sha256": self.sha256,
        }


def rows_sha256(frame: Any) -> str:
    """The SHA-256 of a frame's rows (pandas' row hashes, index included): a bundled dataset's hash."""
    import pandas as pd

    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()).hexdigest()
