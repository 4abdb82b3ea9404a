"""From a composed config to a finished command, without Hydra's runtime: ``cli.py`` and the Python API
both call these, and only ``launch_fit`` decides how many processes a fit runs on.

    summary = run_command("fit", cfg, Path("runs/fit/my-run"))   # evaluate, predict, ... the same way
    objective = run_sweep_job(cfg, job_dir, n_jobs=2)        # one job of a multirun; never raises
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from mltrain.errors import ConfigError
from mltrain.rundir import RunDir, remove_if_unused
from mltrain.startup import end_of_startup
from mltrain.status import NO_OBJECTIVE

log = logging.getLogger(__name__)


def launch_fit(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """``mltrain fit`` in as many processes as it asks for: the one place that decides.

    Here when the config says one process; on ``trainer.nproc`` local workers (``launch/local.py``); or as
    rank 0 of torchrun's processes (``launch/ranks.py``). Every process then runs ``commands.fit.run``,
    which never launches.

    Raises:
        UserError, KeyboardInterrupt, DistributedError: as the fit or a rank reports them.
    """
    from mltrain.commands import fit  # only the command that runs is imported (see run_command)
    from mltrain.launch import ranks

    if not ranks.needed(cfg):
        return fit.run(cfg, out_dir)
    if ranks.torchrun_world() > 1:
        if cfg.trainer.nproc > 1:
            raise ConfigError(
                f"trainer.nproc={cfg.trainer.nproc} starts its own processes, but this mltrain is one of "
                f"torchrun's {ranks.torchrun_world()} already; leave trainer.nproc=1 (torchrun's "
                "--nproc-per-node decides)"
            )
        return ranks.lead_job(cfg, Path(out_dir))
    from mltrain.launch.local import launch_local

    return launch_local(cfg, Path(out_dir))


def run_command(command: str, cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run ``mltrain <command>`` on a composed config in ``out_dir``; its result (``summary.json``'s content).

    Only the command that runs is imported: ``fit`` does not pay for ``evaluate``'s imports. A run refused
    before it wrote anything leaves no directory behind.

    Raises:
        UserError: bad input, found before anything was trained or written.
        KeyboardInterrupt: Ctrl-C or SIGTERM; the epochs before it are saved.
        OSError: a run file could not be written; the files written before it are intact.
    """
    from mltrain.errors import UserError

    try:
        if command == "fit":  # its start-up ends as training begins (single_run.fit_rows)
            return launch_fit(cfg, out_dir)
        module = importlib.import_module(f"mltrain.commands.{command}")
        end_of_startup()
        return module.run(cfg, out_dir)
    except UserError:
        remove_if_unused(Path(out_dir))
        raise


def run_sweep_job(cfg: DictConfig, out_dir: Path, n_jobs: int | None = None) -> float:
    """One job of a multirun: a failure is recorded in its directory and the sweep goes on.

    A job that diverged or failed (user error or crash: ``error.txt``, summary status ``failed``) returns
    the worst objective (inf, or -inf when maximising), so a sweeper ranks it last instead of stopping.

    Args:
        n_jobs: jobs running at once (a parallel launcher's ``n_jobs``); with ``trainer.num_threads`` null,
            each job gets ``cpu_count // n_jobs`` threads.

    Raises:
        KeyboardInterrupt: the sweep was interrupted.
    """
    from mltrain.components.directions import direction
    from mltrain.launch.optuna_sweeper import trial_reporter
    from mltrain.reporting.sweep_table import record_failure, write_sweep_table
    from mltrain.training.callbacks.pruning import trial_reporting

    divide_threads(cfg, n_jobs)
    worst = float("-inf") if direction(cfg.objective, cfg.objective_mode) == "max" else float("inf")
    summary: dict[str, Any] = {}
    try:
        reporter = trial_reporter(out_dir)  # an Optuna trial: its objective every epoch, and pruning
        with trial_reporting(reporter) if reporter is not None else contextlib.nullcontext():
            summary = launch_fit(cfg, out_dir)
    except Exception as e:  # noqa: BLE001 - one job's error must not sink the sweep
        message = record_failure(out_dir, e)
        log.error("job failed: %s (details in %s)", message, RunDir(out_dir).error)
    finally:
        write_sweep_table(out_dir.parent)
    objective = summary.get("objective")
    failed = summary.get("status") in (None, *NO_OBJECTIVE)
    return worst if failed or objective is None else float(objective)


def divide_threads(cfg: DictConfig, n_jobs: int | None) -> None:
    """``trainer.num_threads = cpu_count // n_jobs`` when it is null and jobs run in parallel."""
    if cfg.trainer.num_threads is not None or not n_jobs:
        return
    cpus = os.cpu_count() or 1
    with open_dict(cfg):
        cfg.trainer.num_threads = max(1, cpus // (cpus if n_jobs < 0 else n_jobs))
