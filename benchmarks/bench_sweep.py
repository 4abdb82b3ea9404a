"""What an Optuna sweep trial costs beyond its epochs (trials in the sweep's own process), and where it goes.

    python benchmarks/bench_sweep.py                      # 8 trials of 5 epochs on the bundled digits
    python benchmarks/bench_sweep.py --trials 12 --epochs 5 --trial-plots   # with each trial's PNGs
    python benchmarks/bench_sweep.py --keep               # leave the sweep directory in the temp dir

Runs ``mltrain fit -m hydra/sweeper=optuna hydra/sweeper/sampler=grid 'seed=range(0, N)'
trainer.epochs=E trainer.num_threads=1`` in this process (``cli.main``, as the command runs it: Hydra's
basic launcher, one trial at a time) and times, with both the wall clock and this process's CPU time:

* each trial's job (Hydra's ``launch`` of one job: composing its config, Hydra's job files, the run);
* its epochs (``Trainer.fit``), so ``overhead = job - epochs``;
* inside the overhead: Hydra composing the job's config (``load_sweep_config``), loading the data
  (``setup_data``), the run's artifacts (diagnosis, classification report, PNGs: ``write_artifacts``) and
  the rest (Hydra's job files, the model, checkpoints, summary, sweep.csv, the study's bookkeeping).

The first trial pays one-off imports (scikit-learn, matplotlib, torch's compiler stack), so it is shown
apart; the figure to compare with the goal (0.5 s) is the median over the other trials. CPU time is the
steadier figure on a shared machine (``os.getloadavg`` is printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PARTS = ("job", "epochs", "compose", "data", "artifacts")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--trial-plots", action="store_true", help="hydra.sweeper.trial_plots=true")
    parser.add_argument("--keep", action="store_true", help="leave the temp dir")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="mltrain-bench-sweep-"))
    os.chdir(folder)
    times: dict[str, list[tuple[float, float]]] = defaultdict(list)
    _instrument(times)
    from mltrain import cli

    args = [
        "fit", "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", f"seed=range(0,{options.trials})",
        f"hydra.sweeper.n_trials={options.trials}", f"trainer.epochs={options.epochs}",
        "trainer.num_threads=1", "hydra.sweep.dir=sweep",
        f"hydra.sweeper.trial_plots={str(options.trial_plots).lower()}",
    ]  # fmt: skip
    started, cpu_started = time.perf_counter(), time.process_time()
    sys.argv = ["mltrain"]
    try:
        cli.main(args)
    except SystemExit as stopped:
        if stopped.code:
            raise
    total = time.perf_counter() - started, time.process_time() - cpu_started
    _print(times, total, options)
    if options.keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _instrument(times: dict[str, list[tuple[float, float]]]) -> None:
    """Wrap the functions whose time is measured; each call appends (wall, cpu) to its part's list."""
    from hydra.core.plugins import Plugins

    Plugins.instance()  # Hydra's plugin scan re-runs the launcher's module: wrap the class it keeps
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    import mltrain.commands.fit as fit
    import mltrain.reporting.diagnosis as diagnosis
    from mltrain.training.trainer import Trainer

    _wrap(BasicLauncher, "launch", "job", times)
    _wrap(Trainer, "fit", "epochs", times)
    _wrap(ConfigLoaderImpl, "load_sweep_config", "compose", times)
    _wrap(fit, "setup_data", "data", times)
    _wrap(diagnosis, "write_artifacts", "artifacts", times)


def _wrap(owner: Any, name: str, part: str, times: dict[str, list[tuple[float, float]]]) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            times[part].append((time.perf_counter() - wall, time.process_time() - cpu))

    setattr(owner, name, timed)


def _print(times: dict[str, list[tuple[float, float]]], total: tuple[float, float], options: Any) -> None:
    jobs = len(times["job"])
    assert jobs == options.trials, f"{jobs} jobs ran, expected {options.trials}"
    # the sweep composes its own config once before the jobs: the last `jobs` compositions are the jobs'
    times["compose"] = times["compose"][-jobs:]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{jobs} trials of {options.epochs} epochs (digits, 1 thread), trial plots "
          f"{'on' if options.trial_plots else 'off'}; load average {load}")  # fmt: skip
    print(f"whole command: {total[0]:.2f} s wall, {total[1]:.2f} s CPU")
    for clock, index in (("wall", 0), ("CPU", 1)):
        per_trial = {p: [t[index] for t in times[p]] for p in PARTS}
        overhead = [j - e for j, e in zip(per_trial["job"], per_trial["epochs"], strict=True)]
        rest = [o - c - d - a for o, c, d, a in zip(overhead, per_trial["compose"], per_trial["data"],
                                                     per_trial["artifacts"], strict=True)]  # fmt: skip
        rows = {"epochs": per_trial["epochs"], "overhead (job - epochs)": overhead,
                "  Hydra composing the job": per_trial["compose"], "  data": per_trial["data"],
                "  artifacts (diagnosis, reports, PNGs)": per_trial["artifacts"],
                "  the rest": rest}  # fmt: skip
        print(f"\n{clock} seconds per trial       first trial   median of trials 2..{jobs}")
        for label, values in rows.items():
            print(f"  {label:<40} {values[0]:8.3f}   {statistics.median(values[1:]):8.3f}")


if __name__ == "__main__":
    main()
