"""A run's status, as ``summary.json`` says it: the names, which is worse, and which count as failed.

    from mltrain.status import COMPLETED, worst
    worst(["completed", "diverged"])    # "diverged": the worst fold decides a k-fold run's status

The spec's statuses (``completed``, ``early_stopped``, ``pruned``, ``interrupted``, ``diverged``,
``failed``) and ``running``, which ``summary.json`` says while epochs still finish. This module imports
nothing, so every layer can read it (``mltrain report`` included, which never imports torch).
"""

from __future__ import annotations

from collections.abc import Iterable

COMPLETED = "completed"  # every epoch ran
EARLY_STOPPED = "early_stopped"  # early stopping ended the run
PRUNED = "pruned"  # a sweep's pruner stopped the trial (hydra/sweeper/pruner=median ...)
INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM; resume= continues it
DIVERGED = "diverged"  # the loss became NaN or infinite
FAILED = "failed"  # an error ended the run (error.txt in a sweep job says which)
RUNNING = "running"  # epochs still finishing, or a process that died without a word

SUCCEEDED = (COMPLETED, EARLY_STOPPED)  # the run trained to its end
ORDER = (DIVERGED, INTERRUPTED, PRUNED, EARLY_STOPPED, COMPLETED)  # of a k-fold run's folds, worst first
UNFINISHED = (RUNNING, INTERRUPTED, FAILED)  # summaries a failed multi-process run marks failed
SWEEP_FAILED = (FAILED, RUNNING)  # sweep jobs counted as failed once the multirun ends (exit status 1)
NO_OBJECTIVE = (DIVERGED, FAILED, INTERRUPTED)  # sweep jobs whose objective the sweeper gets as the worst


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` by :data:`ORDER`: the status of a k-fold run, decided by its worst fold."""
    return min(statuses, key=ORDER.index)
