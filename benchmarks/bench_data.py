"""Load time and peak memory of ``dataset=csv`` on a large generated file, against pandas and pyarrow alone.

    python benchmarks/bench_data.py                       # 500,000 rows x 50 features: Parquet, CSV, CSV.gz
    python benchmarks/bench_data.py --rows 5000000        # the issue's size (needs about 12 GB free)
    python benchmarks/bench_data.py --formats parquet --fit   # also a whole `mltrain fit`, one epoch
    python benchmarks/bench_data.py --keep                # leave the generated files in the temp dir
    python benchmarks/bench_data.py --rows 5000000 --reuse /tmp/mltrain-bench-data-x   # files kept before

Writes a seeded table (``--features`` float columns, values rounded to 4 decimals, and a ``label`` column of
three strings) as Parquet, CSV and gzipped CSV, then runs each step in a fresh Python process and reports
its wall time and its peak resident memory (``ru_maxrss``), also per value of the table (rows x columns):

* ``pandas`` / ``pyarrow``: the file read by ``pandas.read_csv`` / ``pandas.read_parquet``, or by
  ``pyarrow.csv.read_csv`` / ``pyarrow.parquet.read_table`` (an Arrow table, not converted to pandas);
* ``mltrain load``: ``dataset=csv``'s loader (the frame the run validates);
* ``mltrain prepare``: load, split and preprocess up to the float32 tensors the trainer takes;
* ``mltrain fit`` (``--fit``): the whole command, one epoch at batch 1024 (the memory check included;
  ``--fit-batches N`` stops the epoch after N batches, for a machine too slow for a whole epoch).

Imports are not timed, but their memory is in every peak: ``import only`` shows that fixed part.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 250_000  # rows generated and written at a time

STEPS = {  # name: (imports, not timed; the work, timed)
    "import only": ("import pandas, pyarrow.csv, pyarrow.parquet, mltrain.commands.fit", "pass"),
    "pandas": ("import pandas as pd", "f = pd.read_parquet(P) if P.endswith('.parquet') else pd.read_csv(P)"),
    "pyarrow": ("import pyarrow.csv as c, pyarrow.parquet as q",
                "t = q.read_table(P) if P.endswith('.parquet') else c.read_csv(P)"),
    "mltrain load": ("from mltrain.data.datasets import DATASETS",
                     "t = DATASETS.get('csv')(path=P, target='label', check_memory=False)"),
    "mltrain prepare": ("from bench_data_prepare import prepare", "d = prepare(P)"),
}  # fmt: skip
PREPARE = '''\
"""What `mltrain fit` does with a file before the first epoch: load, split (stratified), preprocess."""
import torch
from omegaconf import OmegaConf
from mltrain.commands.fit_data import prepare as encode, split_rows
from mltrain.config.spec import Splitting
from mltrain.data.datasets import DATASETS
from mltrain.components.losses import LOSSES
from mltrain.data.preprocessing import drop_missing


def prepare(path):
    cfg = OmegaConf.create({"seed": 0, "dataset": {"test_fraction": None},
                            "validation": {"name": "split", "fraction": 0.2}})
    table = drop_missing(DATASETS.get("csv")(path=path, target="label", check_memory=False))
    loss = LOSSES.get("sparse_categorical_crossentropy")()
    return encode(table, loss, split_rows(Splitting.of(cfg), table, loss), torch.device("cpu"))
'''
MEASURE = """
import resource, sys, time
sys.path.insert(0, {folder!r})
P = {path!r}
{imports}
start = time.perf_counter()
{code}
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def generate(folder: Path, rows: int, features: int, formats: list[str]) -> dict[str, Path]:
    """The seeded table in each format, written a chunk at a time (the generator never holds it all)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    paths = {f: folder / f"data.{f}" for f in formats}
    writers: dict[str, object] = {}
    labels = np.array(["cat", "dog", "fox"])
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        x = np.round(rng.normal(size=(n, features)), 4)
        columns = {f"x{i}": x[:, i] for i in range(features)}
        columns["label"] = labels[(x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)]
        table = pa.table(columns)
        for kind, path in paths.items():
            if kind not in writers:
                writers[kind] = (
                    pq.ParquetWriter(path, table.schema)
                    if kind == "parquet"
                    else pacsv.CSVWriter(pa.CompressedOutputStream(str(path), "gzip")
                                         if kind == "csv.gz" else str(path), table.schema)
                )  # fmt: skip
            writers[kind].write_table(table)
    for writer in writers.values():
        writer.close()
    return paths


def measure(step: str, path: Path, folder: Path) -> tuple[float, int]:
    """Wall seconds and peak resident bytes of one step, in a fresh Python process."""
    imports, code = STEPS[step]
    code = MEASURE.format(folder=str(folder), path=str(path), imports=imports, code=code)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), int(peak)


def measure_fit(path: Path, folder: Path, batches: int | None) -> tuple[float, int]:
    """The whole ``mltrain fit`` command, one epoch: wall seconds and the child's peak resident bytes."""
    command = [sys.executable, "-m", "mltrain", "fit", "dataset=csv", f"dataset.path={path}",
               "dataset.target=label", "trainer.epochs=1", "trainer.batch_size=1024",
               f"hydra.run.dir={folder / 'run'}",
               f"trainer.limit_train_batches={batches or 'null'}"]  # fmt: skip
    wrapper = (
        "import resource, subprocess, sys, time; s = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"mltrain fit failed:\n{done.stderr[-3000:]}")
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), int(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--formats", default="parquet,csv,csv.gz", help="comma-separated: parquet,csv,csv.gz")
    parser.add_argument("--fit", action="store_true", help="also time a whole one-epoch `mltrain fit`")
    parser.add_argument("--fit-batches", type=int, help="with --fit: stop the epoch after this many batches")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--reuse", help="a folder of files generated before with the same --rows (kept)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    folder = Path(args.reuse or tempfile.mkdtemp(prefix="mltrain-bench-data-"))
    (folder / "bench_data_prepare.py").write_text(PREPARE)
    values = args.rows * (args.features + 1)
    started = time.perf_counter()
    formats = args.formats.split(",")
    if args.reuse:
        paths = {f: folder / f"data.{f}" for f in formats}
    else:
        paths = generate(folder, args.rows, args.features, formats)
    how = "reused" if args.reuse else f"generated in {time.perf_counter() - started:.0f}s"
    print(f"{args.rows:,} rows x {args.features + 1} columns ({values * 8 / 2**30:.2f} GiB as float64), "
          f"{how} in {folder}")  # fmt: skip
    results = []
    print(f"{'file':<22} {'step':<16} {'seconds':>8} {'peak GiB':>9} {'bytes/value':>12}")
    for kind, path in paths.items():
        size = f"{kind} {path.stat().st_size / 2**20:,.0f} MB"
        steps = [(s, measure(s, path, folder)) for s in STEPS]
        if args.fit:
            steps.append(("mltrain fit", measure_fit(path, folder, args.fit_batches)))
        for step, (seconds, peak) in steps:
            print(f"{size:<22} {step:<16} {seconds:>8.1f} {peak / 2**30:>9.2f} {peak / values:>12.1f}")
            results.append({"file": kind, "mb": path.stat().st_size / 2**20, "step": step,
                            "seconds": seconds, "peak_bytes": peak})  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "columns": args.features + 1,
                                               "results": results}, indent=2))  # fmt: skip
    if not args.keep and not args.reuse:
        for path in folder.rglob("*"):
            if path.is_file():
                path.unlink()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
