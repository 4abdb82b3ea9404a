"""What ``trainer.nproc=2`` costs or gains against one process, on this machine's cores.

    python benchmarks/bench_ddp.py                       # batch 64 and 512, 100,000 synthetic rows, 3 epochs
    python benchmarks/bench_ddp.py --batch-sizes 512 --repeats 3

For each batch size, runs ``mltrain fit dataset=synthetic dataset.rows=<rows> trainer.epochs=<epochs>``
as whole processes, interleaved: one process with ``trainer.num_threads=<cores>``, and ``trainer.nproc=2``
(each worker gets ``cores // 2`` threads). Prints the median of the epochs' ``time_s`` (training and
validation, from ``history.csv``; the first epoch left out) and the median wall time of the whole command
(start-up included: the workers import torch), with the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def run(args: list[str], folder: Path) -> tuple[float, float]:
    """Wall seconds of ``mltrain fit <args>`` and the median epoch time (epochs after the first)."""
    run_dir = Path(tempfile.mkdtemp(dir=folder))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mltrain", "fit", *args, f"hydra.run.dir={run_dir}"],
                   check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - started
    epochs = pd.read_csv(run_dir / "history.csv").time_s.tolist()
    return wall, statistics.median(epochs[1:] or epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-sizes", default="64,512")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    common = ["dataset=synthetic", f"dataset.rows={args.rows}", f"trainer.epochs={args.epochs}"]
    folder = Path(tempfile.mkdtemp(prefix="mltrain-bench-ddp-"))
    print(f"{cores} cores; load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'batch':>6} {'setting':<34} {'epoch s':>8} {'command s':>10}")
    for batch in map(int, args.batch_sizes.split(",")):
        settings = {
            f"1 process, {cores} threads": [f"trainer.num_threads={cores}"],
            f"trainer.nproc=2, {max(1, cores // 2)} thread(s) each": ["trainer.nproc=2"],
        }
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
        for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both
            for name, extra in settings.items():
                timings[name].append(run([*common, f"trainer.batch_size={batch}", *extra], folder))
        for name, found in timings.items():
            wall = statistics.median(w for w, _ in found)
            epoch = statistics.median(e for _, e in found)
            print(f"{batch:>6} {name:<34} {epoch:>8.2f} {wall:>10.1f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
