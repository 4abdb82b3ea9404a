"""File size and browser load time of ``mltrain report --html`` for 10 and 500 runs.

    python benchmarks/bench_html.py [--runs 10 500] [--epochs 20]

One real run is trained (``mltrain fit dataset=iris``, a classifier: its page has the confusion matrix too),
then copied into a sweep of N jobs, each with its own learning-rate override, objective and a history whose
numbers are scaled, so the page has N different runs of ``epochs`` epochs each (the copies are cheap: no
training). For each N it measures:

* ``build_s``: reading the runs and writing the page (``mltrain report --html`` without printing);
* ``size_MB``: the page's size (plotly.js is about 4.6 MB of it);
* ``ready_ms``: when the page's script had drawn everything, in milliseconds since navigation started, as
  headless Chromium reports it (``data-ready-ms`` on ``<body>``): parsing plotly.js, the JSON, the tables
  and the curves of the 5 best runs, the sweep views and the confusion matrix;
* ``script_ms``: the page's own script, from after plotly.js was parsed to the end of drawing;
* ``chromium_s``: the whole headless Chromium process (start, load, render, exit), for scale;
* and first, ``runs: 0``: the page with no runs, plotly.js's own parse and start-up (the floor).

Needs the ``html`` extra and Debian's ``chromium``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.reporting.browser: the test's Chromium

from tests.reporting.browser import render  # noqa: E402


def trained_run(work: Path, epochs: int) -> Path:
    """One real run, trained by the command line; its directory."""
    done = subprocess.run(
        [sys.executable, "-m", "mltrain", "fit", "dataset=iris", f"trainer.epochs={epochs}",
         f"hydra.run.dir={work / 'seed_run'}"],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert (work / "seed_run" / "summary.json").is_file(), done.stderr
    return work / "seed_run"


def copies(seed: Path, root: Path, n: int) -> Path:
    """``n`` sweep jobs under ``root``, copies of ``seed`` with their own lr, objective and curves."""
    sweep = root / "multirun" / "bench"
    history = pd.read_csv(seed / "history.csv")
    summary = json.loads((seed / "summary.json").read_text())
    for job in range(n):
        lr = 10 ** (-4 + 3 * job / max(1, n - 1))
        target = sweep / f"{job}_optimizer.lr-{lr:.3g}"
        shutil.copytree(seed, target, ignore=shutil.ignore_patterns("*.pt", "checkpoints", "plots"))
        (target / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"optimizer.lr={lr:.3g}"]))
        scale = 1 + job / n
        scaled = history.copy()
        for column in ("loss", "val_loss"):
            scaled[column] = history[column] * scale
        scaled.to_csv(target / "history.csv", index=False)
        best = dict(summary["best"], val_loss=summary["best"]["val_loss"] * scale)
        changed = summary | {"best": best, "objective": best["val_loss"]}
        (target / "summary.json").write_text(json.dumps(changed))
    return root


def measure(seed: Path, n: int, work: Path) -> dict[str, float]:
    from mltrain.commands.report import build_sections
    from mltrain.reporting.html_report import write_html

    root = copies(seed, work / f"runs_{n}", n)
    started = time.perf_counter()
    page = write_html(build_sections([root]), work / f"report_{n}.html")
    build = time.perf_counter() - started
    shown = render(page)
    assert not shown.console, shown.console
    ready, script = (
        float(shown.dom.split(f'data-{k}-ms="', 1)[1].split('"', 1)[0]) for k in ("ready", "script")
    )
    rows = shown.dom.count("<tr data-run=")
    assert rows == n, (rows, n)
    return {"runs": n, "build_s": round(build, 2), "size_MB": round(page.stat().st_size / 1e6, 2),
            "ready_ms": ready, "script_ms": script, "chromium_s": round(shown.wall_s, 2)}  # fmt: skip


def baseline(work: Path) -> float:
    """``ready_ms`` of the page with no runs: plotly.js's own parse and start-up, the floor of any page."""
    from mltrain.reporting.html_page import page
    from mltrain.reporting.html_report import embedded_json, plotly_js

    empty = work / "empty.html"
    empty.write_text(page(plotly_js(), embedded_json({"sections": [], "runs": {}})))
    shown = render(empty)
    assert not shown.console, shown.console
    return float(shown.dom.split('data-ready-ms="', 1)[1].split('"', 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10, 500])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="browser loads per size (the median is kept)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed = trained_run(work, options.epochs)
        floor = sorted(baseline(work) for _ in range(options.repeat))
        print(json.dumps({"runs": 0, "ready_ms": floor[len(floor) // 2], "ready_ms_all": floor}))
        for n in options.runs:
            results = [measure(seed, n, work / f"try_{k}") for k in range(options.repeat)]
            results.sort(key=lambda r: r["ready_ms"])
            spread = {f"{k}_all": sorted(r[k] for r in results) for k in ("ready_ms", "script_ms")}
            print(json.dumps(results[len(results) // 2] | spread))


if __name__ == "__main__":
    main()
