"""What hashing a data file while it is read costs: ``read_table`` with and without a fingerprint.

    python benchmarks/bench_fingerprint.py [--rows 2000000] [--columns 20]

Writes a CSV of random floats (and the same rows as Parquet), then times, best of 3:

* ``read``: ``tables.read_table`` as before (pyarrow reads the file by its path);
* ``read+hash``: the same read with a ``Fingerprint`` (the bytes hashed as the parser pulls them; Parquet:
  hashed from the memory map the parser reads);
* ``hash alone``: ``hashlib.sha256`` over the file in a pass of its own (what a second read would add,
  with the file already in the page cache: a cold disk adds the read itself).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mltrain.data import tables
from mltrain.data.fingerprint import Fingerprint


def best_of(n: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def hash_alone(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            sha.update(chunk)
    return sha.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--columns", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.normal(size=(options.rows, options.columns)).astype(np.float32),
                             columns=[f"x{i}" for i in range(options.columns)])  # fmt: skip
        frame["y"] = rng.integers(0, 3, options.rows)
        for path in (Path(tmp) / "data.csv", Path(tmp) / "data.parquet"):
            frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)
            plain = best_of(3, lambda p=path: tables.read_table(p, ",", None, {"y"}))
            hashed = best_of(
                3, lambda p=path: tables.read_table(p, ",", None, {"y"}, fingerprint=Fingerprint(p))
            )
            alone = best_of(3, lambda p=path: hash_alone(p))
            size = round(path.stat().st_size / 1e6)
            times = {
                "read_s": round(plain, 2),
                "read+hash_s": round(hashed, 2),
                "hash_alone_s": round(alone, 2),
            }
            print(json.dumps({"file": path.name, "MB": size, **times}))


if __name__ == "__main__":
    main()
