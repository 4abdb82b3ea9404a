"""The callbacks that write a run's files while it trains: checkpoints, history, summary.

Their order in the trainer's callback list is the order of an epoch's writes, and the trainer runs them
with Ctrl-C and SIGTERM held (``mltrain.interrupts``), so a signal never falls between two of them:

    [tracker, CheckpointWriter, HistoryWriter, SummaryWriter, ProgressCallback]

``checkpoints/last.pt`` is the commit point of an epoch. When it cannot be written (disk full), the epoch
is taken back: the history and the best-epoch tracker return to the last checkpoint, so ``summary.json``
never counts an epoch that ``last.pt`` does not hold. A run killed with SIGKILL between two writes leaves
every file whole; ``resume=`` rewrites the history and summary from ``last.pt`` and the run goes on to the
same numbers as one that was never stopped.
"""

from __future__ import annotations

import datetime
import logging
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from mltrain.files import atomic_write_json, atomic_write_text, read_json
from mltrain.rundir import RunDir
from mltrain.status import FAILED, INTERRUPTED, RUNNING
from mltrain.training.callbacks.base import Callback
from mltrain.training.callbacks.early_stopping import EarlyStopping
from mltrain.training.checkpoints import save_checkpoint, trainer_state
from mltrain.training.history import history_csv, history_dict
from mltrain.training.trainer import Trainer

log = logging.getLogger(__name__)

PACKAGES = ("mltrain", "torch", "numpy", "pandas", "hydra-core", "omegaconf", "scikit-learn")


class CheckpointWriter(Callback):
    """Writes ``checkpoints/best.pt`` at a new best epoch, the epoch's top-k file when it is one of the
    ``save_top_k`` best, then ``checkpoints/last.pt`` (the commit point) after every epoch; then removes the
    top-k files no longer among the best.

    The top k are the ``save_top_k`` best rows of the committed history by the tracker's monitor (a tie goes
    to the earlier epoch), so they need no state of their own: after a kill, a resume (or the next epoch)
    removes a file of an epoch ``last.pt`` never committed, or one pushed out of the top k.

    Args:
        run: the run directory.
        tracker: the run's best-epoch tracker (its state travels in every checkpoint).
        save_top_k: how many best epochs keep their own checkpoint; 0 = none.
    """

    def __init__(self, run: RunDir, tracker: EarlyStopping, save_top_k: int = 0) -> None:
        self.run, self.tracker, self.save_top_k = run, tracker, save_top_k
        self.committed: dict[str, Any] = tracker.state_dict()

    def on_fit_begin(self, trainer: Trainer) -> None:
        self.committed = self.tracker.state_dict()  # after a resume: the state last.pt holds
        self.prune(trainer.history)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        state = trainer_state(trainer, self.tracker)
        try:
            if self.tracker.best_epoch == epoch:
                save_checkpoint(self.run.best_checkpoint, state)
            if epoch in self.top_k(trainer.history):
                save_checkpoint(
                    self.run.top_k_checkpoint(epoch, self.tracker.monitor, row[self.tracker.monitor]), state
                )
            save_checkpoint(self.run.last_checkpoint, state)
        except BaseException:
            trainer.history.pop()  # not committed: every file keeps saying the epoch before
            self.tracker.load_state_dict(self.committed)
            raise
        self.committed = state["early_stopping"]
        self.prune(trainer.history)

    def top_k(self, history: list[dict[str, float]]) -> dict[int, float]:
        """``{epoch: monitored value}`` of the ``save_top_k`` best epochs of ``history`` (NaN never does)."""
        monitor, sign = self.tracker.monitor, 1.0 if self.tracker.mode == "min" else -1.0
        scored = [(sign * r[monitor], int(r["epoch"]), r[monitor]) for r in history
                  if r.get(monitor) is not None and r[monitor] == r[monitor]]  # fmt: skip
        return {epoch: value for _, epoch, value in sorted(scored)[: self.save_top_k]}

    def prune(self, history: list[dict[str, float]]) -> None:
        """Remove the top-k files that are not the committed history's top k (each removal is atomic)."""
        monitor = self.tracker.monitor
        keep = {self.run.top_k_checkpoint(e, monitor, v) for e, v in self.top_k(history).items()}
        for path in self.run.top_k_checkpoints():
            if path not in keep:
                path.unlink(missing_ok=True)


class HistoryWriter(Callback):
    """Rewrites ``history.csv`` and ``history.json`` in ``out_dir`` after every epoch.

    ``prefix`` columns come first in ``history.csv`` (``{"fold": 2}`` in a k-fold run). A resumed run's
    files are rewritten from its checkpoint's history when the fit begins.
    """

    def __init__(self, out_dir: Path, params: dict[str, Any], prefix: dict[str, Any] | None = None) -> None:
        self.run, self.params, self.prefix = RunDir(out_dir), params, prefix or {}

    def on_fit_begin(self, trainer: Trainer) -> None:
        self.params = {**self.params, "steps": trainer.steps_per_epoch}  # Keras' params have it too
        if trainer.history:
            self.write(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        self.write(trainer)

    def write(self, trainer: Trainer) -> None:
        rows = [self.prefix | r for r in trainer.history]
        atomic_write_text(self.run.history_csv, history_csv(rows))
        atomic_write_json(self.run.history_json, history_dict(trainer.history, self.params))


class SummaryWriter(Callback):
    """Keeps ``summary.json`` current: status ``running`` while epochs finish, the outcome at the end.

    The final status (``completed``, ``early_stopped``, ``diverged``) is written by :meth:`finish` once the
    command has saved ``model.pt``; ``interrupted`` and ``failed`` by :meth:`fail`.

    Args:
        path: where to write ``summary.json``.
        tracker: the run's best-epoch tracker: its monitor, mode and best epoch are the summary's.
        objective: the history column whose value at the best epoch is the run's ``objective``.
        static: fields fixed for the run (seed, device, data sizes, config choices).
        resumed: the run continues from a checkpoint: ``started_at`` stays the first process's, the
            earlier processes' ``wall_time_s`` is added to this one's, and ``resumed_at`` gains this time.
    """

    def __init__(
        self,
        path: Path,
        tracker: EarlyStopping,
        objective: str,
        static: dict[str, Any],
        resumed: bool = False,
    ) -> None:
        self.path, self.tracker, self.objective, self.static = Path(path), tracker, objective, static
        self.started = time.perf_counter()
        self.started_at = _now()
        self.earlier_s, self.resumed_at = 0.0, []
        if resumed:
            self._carry_over()
        self.versions = versions()
        self.summary: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    def _carry_over(self) -> None:
        """The clock of the processes before this one, from the summary they left (if it can be read)."""
        earlier = read_json(self.path)
        earlier = earlier if isinstance(earlier, dict) else {}
        self.started_at = earlier.get("started_at") or self.started_at
        seconds = earlier.get("wall_time_s")
        self.earlier_s = float(seconds) if isinstance(seconds, int | float) else 0.0
        before = earlier.get("resumed_at")
        self.resumed_at = [*(before if isinstance(before, list) else []), _now()]

    def on_fit_begin(self, trainer: Trainer) -> None:
        self.write(trainer, RUNNING)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        self.write(trainer, RUNNING)

    def finish(self, trainer: Trainer, fields: dict[str, Any]) -> dict[str, Any]:
        """Write the outcome with fields known only after training (test metrics, diagnosis)."""
        self.extra |= fields
        return self.write(trainer, trainer.status)

    def fail(self, trainer: Trainer, error: BaseException) -> None:
        """Record an interruption or a failure; a summary that cannot be written is only logged."""
        if not self.path.parent.is_dir():
            return  # the run directory was deleted: nothing to record into (the error names it)
        status = INTERRUPTED if isinstance(error, KeyboardInterrupt) else FAILED
        if status == FAILED or trainer.status != INTERRUPTED:  # the trainer names the epoch it stopped in
            trainer.message = _describe(error)
        trainer.status = status
        try:
            self.write(trainer, status)
        except OSError as e:
            log.warning("could not record status %s in %s: %s", status, self.path, e)

    def write(self, trainer: Trainer, status: str) -> dict[str, Any]:
        history, epoch = trainer.history, self.tracker.best_epoch
        best = history[epoch - 1] if 0 < epoch <= len(history) else None
        self.summary = {
            "status": status,
            "message": trainer.message,
            "epochs_completed": len(history),
            "epochs": trainer.epochs,
            "monitor": self.tracker.monitor,
            "mode": self.tracker.mode,
            "best_epoch": int(best["epoch"]) if best else None,
            "best": best,
            "final": history[-1] if history else None,
            "objective": best.get(self.objective) if best else None,
            "wall_time_s": self.earlier_s + time.perf_counter() - self.started,
            "started_at": self.started_at,
            "resumed_at": self.resumed_at,
            "finished_at": None if status == RUNNING else _now(),
            **self.static,
            **self.extra,
            "versions": self.versions,
        }
        atomic_write_json(self.path, self.summary)
        return self.summary


def versions() -> dict[str, str]:
    """Python's and each main package's installed version."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, OSError) and error.filename:
        return f"cannot write {error.filename}: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
