"""``summary.json``: how the run ended, its best and final epochs, and what it ran on.

Rewritten atomically at the start, after every epoch and at the end, so after a crash it still says how
far the run got (status ``running`` means the process died without finishing).
"""

from __future__ import annotations

import datetime
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from mltrain.training.callbacks import Callback
from mltrain.training.history import atomic_write_json
from mltrain.training.trainer import Trainer

PACKAGES = ("mltrain", "torch", "numpy", "pandas", "hydra-core", "omegaconf", "scikit-learn")


def versions() -> dict[str, str]:
    """Python's and each main package's installed version."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def best_epoch(history: list[dict[str, float]], monitor: str, mode: str = "min") -> dict[str, float] | None:
    """The history row with the best finite ``monitor`` value (the first one on ties)."""
    rows = [r for r in history if r.get(monitor) is not None and r[monitor] == r[monitor]]
    if not rows:
        return None
    pick = min if mode == "min" else max
    return pick(rows, key=lambda r: r[monitor])


class SummaryWriter(Callback):
    """Keeps ``summary.json`` current: written at fit begin, after every epoch and at fit end.

    Args:
        path: where to write ``summary.json``.
        monitor: the history column that picks the best epoch (``val_loss``, or ``loss`` without
            validation rows).
        static: fields fixed for the run (seed, device, data sizes, config choices).
        mode: ``min`` or ``max``: whether the best epoch has the lowest or the highest ``monitor``.
    """

    def __init__(self, path: Path, monitor: str, static: dict[str, Any], mode: str = "min") -> None:
        self.path, self.monitor, self.static, self.mode = Path(path), monitor, static, mode
        self.started = time.perf_counter()
        self.started_at = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.versions = versions()
        self.summary: dict[str, Any] = {}

    def on_fit_begin(self, trainer: Trainer) -> None:
        self.write(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        self.write(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        self.write(trainer)

    def write(self, trainer: Trainer) -> None:
        best = best_epoch(trainer.history, self.monitor, self.mode)
        self.summary = {
            "status": trainer.status,
            "message": trainer.message,
            "epochs_completed": len(trainer.history),
            "epochs": trainer.epochs,
            "monitor": self.monitor,
            "mode": self.mode,
            "best_epoch": int(best["epoch"]) if best else None,
            "best": best,
            "final": trainer.history[-1] if trainer.history else None,
            "objective": best[self.monitor] if best else None,
            "wall_time_s": time.perf_counter() - self.started,
            "started_at": self.started_at,
            "finished_at": None if trainer.status == "running" else _now(),
            **self.static,
            "versions": self.versions,
        }
        atomic_write_json(self.path, self.summary)


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
