"""Run directories: the files a run leaves (:class:`RunDir`), how directories are named, made unique,
locked, and found again from what a user pastes.

    run = RunDir("runs/fit/2026-11-23_23-57-14_dataset-iris_epochs-3")  # <timestamp>_<overrides>
    run.summary, run.history_csv, run.last_checkpoint    # paths: no other module spells a run file's name
    run.read_summary(), run.read_config(), run.folds()   # reads: plain data, folds in numeric order

A name holds only letters, digits and ``. _ - +``, so it pastes as it is into ``run=``, ``resume=`` and
``mltrain report``, into a shell and into Hydra's override grammar. Hydra resolves ``hydra.run.dir`` through
the ``mltrain_run_dir`` resolver registered here; ``cli.py`` quotes path values before Hydra parses them.
Nothing here imports torch: ``mltrain report`` reads runs through this module.

``layout.py`` (RunDir: every file's name and the reads), ``naming.py`` (names, uniqueness, Hydra's
resolvers, path quoting), ``locking.py`` (the run lock and what ``resume=`` takes back).
"""

from mltrain.rundir.layout import FOLD, KFOLD_RESUME, RunDir, RunFile
from mltrain.rundir.locking import (
    check_unlocked,
    holding_run_lock,
    override_key,
    read_overrides,
    resume_dir,
    resumed_overrides,
    run_lock,
)
from mltrain.rundir.naming import (
    NAME_LIMIT,
    hydra_quoted,
    install_resolvers,
    new_run_dir,
    remove_if_unused,
    slug,
    unique_run_dir,
    unquote,
)

__all__ = [
    "FOLD", "KFOLD_RESUME", "NAME_LIMIT", "RunDir", "RunFile", "check_unlocked", "holding_run_lock",
    "hydra_quoted", "install_resolvers", "new_run_dir", "override_key", "read_overrides", "remove_if_unused",
    "resume_dir",
    "resumed_overrides", "run_lock", "slug", "unique_run_dir", "unquote",
]  # fmt: skip
