"""Hydra's side of ``mltrain fit -m``: a callback named in ``conf/fit.yaml`` under ``hydra.callbacks``.

Before the sweeper starts it points an Optuna sweeper the way the run's ``objective`` is better (unless
``hydra.sweeper.direction`` was given); after the last job it rewrites ``sweep.csv`` and remembers how many
jobs failed, so ``cli.py`` exits with status 1. Importing this module registers mltrain's resolvers: the
joblib and submitit launchers unpickle it in their worker processes before resolving the job's directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from mltrain.components.directions import direction
from mltrain.rundir import RunDir
from mltrain.rundir import install_resolvers as _install_resolvers
from mltrain.status import SWEEP_FAILED

log = logging.getLogger(__name__)
_install_resolvers()

failed_jobs: list[str] = []  # directories of the jobs that failed in this process's last multirun


class SweepCallback(Callback):
    """Sweep direction from ``objective``; ``sweep.csv`` and the failed jobs at the end of a multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        given = any(o.startswith("hydra.sweeper.direction=") for o in config.hydra.overrides.hydra)
        if "direction" in config.hydra.sweeper and not given:
            better = direction(config.objective, config.objective_mode)
            with open_dict(config.hydra.sweeper):
                config.hydra.sweeper.direction = "maximize" if better == "max" else "minimize"

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mltrain.reporting.sweep_table import write_sweep_table

        sweep_dir = Path(str(config.hydra.sweep.dir))
        rows = write_sweep_table(sweep_dir) if sweep_dir.is_dir() else []
        failed_jobs[:] = [row["dir"] for row in rows if row["status"] in SWEEP_FAILED]
        table = RunDir(sweep_dir).sweep_table
        log.info("sweep of %d jobs: %d failed; table in %s", len(rows), len(failed_jobs), table)
