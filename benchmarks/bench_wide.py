"""Time of a fit's data stage on wide tables: 60 rows x 2,000 / 4,000 / 8,000 / 16,000 columns (issue 19).

    python benchmarks/bench_wide.py                       # 2k, 4k, 8k, 16k columns
    python benchmarks/bench_wide.py --columns 8000 50000  # the issue's 50,000 (a minute or so)

Writes a seeded CSV of ``--rows`` rows (float columns rounded to 3 decimals, a 0/1 ``y``) per width, then
times, in this process, what ``mltrain fit`` does with it before training: ``load + checks`` (reading the
file and every config and data check, ``setup_data``) and ``prepare`` (split, preprocessing fitted on the
training rows, tensors), plus the training-rows profile ``fit`` writes (``profile``). The time per column
should stay about flat as the width doubles: before issue 19 it doubled (2.8 / 6.9 / 27 s for the whole
command at 2k / 4k / 8k).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module

from mltrain.commands.fit_data import prepare, setup_data, split_rows
from mltrain.config.checks import fill_default_metrics
from mltrain.config.schemas import register_schemas
from mltrain.config.spec import RunSpec
from mltrain.data.preprocessing import drop_missing
from mltrain.monitoring.profile import build_profile


def write(folder: Path, rows: int, columns: int) -> Path:
    """A seeded ``rows`` x ``columns`` CSV with a binary target ``y``."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)).round(3), columns=[f"c{i}" for i in range(columns)])
    frame["y"] = rng.integers(0, 2, rows)
    path = folder / f"wide_{columns}.csv"
    frame.to_csv(path, index=False)
    return path


def stages(path: Path) -> dict[str, float]:
    """Seconds of each data stage of a fit on ``path``."""
    with initialize_config_module("mltrain.conf", version_base="1.3"):
        cfg = compose(
            "fit", overrides=["dataset=csv", f"dataset.path={path}", "dataset.target=y", "loss=bce"]
        )
    fill_default_metrics(cfg)
    start = time.perf_counter()
    table = drop_missing(setup_data(cfg))
    loaded = time.perf_counter()
    spec = RunSpec.resolve(cfg)
    data = prepare(table, spec.loss, split_rows(spec.splitting, table, spec.loss), torch.device("cpu"))
    prepared = time.perf_counter()
    build_profile(table.frame, data.preprocessor, {})
    done = time.perf_counter()
    return {"load + checks": loaded - start, "prepare": prepared - loaded, "profile": done - prepared}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--columns", type=int, nargs="+", default=[2000, 4000, 8000, 16000])
    args = parser.parse_args()
    register_schemas()
    with tempfile.TemporaryDirectory(prefix="mltrain-bench-wide-") as tmp:
        head = ("columns", "load + checks", "prepare", "profile", "total", "ms/column")
        print("{:>8} {:>14} {:>8} {:>8} {:>7} {:>10}".format(*head))  # noqa: UP032 - a header row
        for columns in args.columns:
            times = stages(write(Path(tmp), args.rows, columns))
            total = sum(times.values())
            print(f"{columns:>8,} {times['load + checks']:>13.2f}s {times['prepare']:>7.2f}s "
                  f"{times['profile']:>7.2f}s {total:>6.2f}s {1000 * total / columns:>10.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
