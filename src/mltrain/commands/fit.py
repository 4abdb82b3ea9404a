"""``mltrain fit``: train the model a config describes and write the run's files to ``out_dir``.

    mltrain fit optimizer=nadam loss=bce dataset=breast_cancer

Called by ``launch/`` (for the command line and ``mltrain.api``) in each process that trains, with the
composed config and the run directory; it never starts processes itself. A single run is
``commands/single_run.py``, ``validation=kfold`` is ``commands/kfold.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mltrain.commands.fit_data import setup_data, split_rows
from mltrain.commands.kfold import run_kfold
from mltrain.commands.single_run import fit_rows
from mltrain.config.checks import fill_default_metrics
from mltrain.config.spec import RunSpec
from mltrain.data.preprocessing import drop_missing
from mltrain.errors import ConfigError
from mltrain.rundir import KFOLD_RESUME, holding_run_lock


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Fit the model ``cfg`` describes; write history, summary, config and ``model.pt`` to ``out_dir``.

    With ``validation=kfold`` each fold is a full run in ``out_dir/fold_<i>/``.

    Returns:
        The final ``summary.json`` content (``cv_summary.json``'s for k-fold); ``status`` says how it ended.

    Raises:
        ConfigError, DataError: a user error, found before any training.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with holding_run_lock(out_dir):  # taken before Hydra wrote here on the single run's path
        fill_default_metrics(cfg)
        table = drop_missing(setup_data(cfg))
        spec = RunSpec.resolve(cfg)  # the one point where the checked config becomes settings and objects
        if spec.is_kfold:
            if spec.resume:
                raise ConfigError(KFOLD_RESUME)
            return run_kfold(spec, table, out_dir)
        return fit_rows(spec, table, split_rows(spec.splitting, table, spec.loss), out_dir)
