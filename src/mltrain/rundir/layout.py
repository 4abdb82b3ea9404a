"""The files a run leaves in its directory, and their reads: :class:`RunDir` is the one owner of their names.

run = RunDir("runs/fit/2026-11-23_23-57-14_dataset-iris_epochs-3")
run.summary, run.history_csv, run.last_checkpoint    # paths: no other module spells a run file's name
run.read_summary(), run.read_config(), run.folds()   # reads: plain data, folds in numeric order
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mltrain.files import read_json

KFOLD_RESUME = "resume= does not support validation=kfold yet; start the k-fold run again"
FOLD = re.compile(r"fold_(\d+)")  # a k-fold parent's fold directories: fold_1 ... fold_<k>
TOP_K = re.compile(r"epoch-(\d+)_[\w.+-]+\.pt")  # checkpoint.save_top_k's: epoch-007_val_loss-0.0912.pt
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when built: a report reads many runs


class RunFile:
    """A file's place in a run directory: ``RunDir(p).summary`` is ``p/summary.json``; on the class,
    ``RunDir.summary`` is the relative ``summary.json`` (what artifact lists and messages name)."""

    def __init__(self, *parts: str) -> None:
        self.relative = Path(*parts)

    def __get__(self, run: RunDir | None, owner: type | None = None) -> Path:
        return self.relative if run is None else run.path / self.relative


@dataclass(frozen=True)
class RunDir:
    """A run directory and every file a run (or a command, or a sweep) leaves in it.

    The layout is data for whoever reads it back: :meth:`read_config` parses YAML as plain data and never
    resolves an interpolation; :meth:`read_summary` gives ``None`` for a missing or damaged file.
    """

    path: Path

    config = RunFile("config.yaml")  # the resolved config
    preprocessing = RunFile("preprocessing.json")  # encoders and scaling fitted on the training rows
    history_csv = RunFile("history.csv")  # one row per epoch, rewritten after each
    history_json = RunFile("history.json")  # the same numbers shaped like Keras' History
    summary = RunFile("summary.json")  # status, best epoch and its metrics, versions, diagnosis
    profile = RunFile("profile.json")  # the training rows' distributions, for `mltrain monitor`
    model = RunFile("model.pt")  # the best epoch's weights
    checkpoints = RunFile("checkpoints")
    last_checkpoint = RunFile("checkpoints", "last.pt")  # every epoch: what resume= continues from
    best_checkpoint = RunFile("checkpoints", "best.pt")
    plots = RunFile("plots")  # PNG: learning curves, confusion matrix, drift
    classification_report_json = RunFile("classification_report.json")
    classification_report_csv = RunFile("classification_report.csv")
    confusion_matrix_json = RunFile("confusion_matrix.json")  # validation counts: true class by row
    cv_summary = RunFile("cv_summary.json")  # a k-fold parent: statistics over its folds
    cv_summary_csv = RunFile("cv_summary.csv")
    fold_indices = RunFile("fold_indices.json")  # the validation rows of each fold
    hydra_dir = RunFile(".hydra")  # Hydra's record of the job
    hydra_config = RunFile(".hydra", "config.yaml")  # the composed config, unresolved
    hydra_overrides = RunFile(".hydra", "overrides.yaml")  # the command line's overrides
    hydra_yaml = RunFile(".hydra", "hydra.yaml")  # Hydra's own settings (its mode: RUN or MULTIRUN)
    fit_log = RunFile("fit.log")  # the run's log lines
    error = RunFile("error.txt")  # a failed sweep job: message and traceback
    lock = RunFile(".lock")  # held while a process runs in the directory
    evaluation = RunFile("evaluation.json")  # `mltrain evaluate`'s output directory
    monitor = RunFile("monitor.json")  # `mltrain monitor`'s output directory
    lr_find_csv = RunFile("lr_find.csv")  # `mltrain lr_find`'s directory: step, lr, loss, smoothed_loss
    lr_find_png = RunFile("lr_find.png")  # the same curve, the suggestion marked
    sweep_table = RunFile("sweep.csv")  # a multirun's directory: one row per job
    sweep_config = RunFile("multirun.yaml")  # a multirun's directory: Hydra's settings and overrides
    sweep_results = RunFile("optimization_results.yaml")  # an Optuna sweep: its study and best trial
    study_journal = RunFile("optuna.journal")  # an Optuna sweep's study when no storage was given

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def is_run(self) -> bool:
        """Whether the directory holds a run: its ``summary.json`` or ``cv_summary.json``, or the
        ``config.yaml`` of a fit with its ``.hydra/``, ``model.pt`` or ``preprocessing.json``."""
        if self.summary.is_file() or self.cv_summary.is_file():
            return True
        return self.config.is_file() and any(
            p.exists() for p in (self.hydra_dir, self.model, self.preprocessing)
        )

    @classmethod
    def containing(cls, path: Path) -> RunDir | None:
        """The run directory ``path`` (a file, written or not) is in, after resolving links; else ``None``."""
        for parent in Path(path).resolve().parents:
            if cls(parent).is_run:
                return cls(parent)
        return None

    @property
    def resume_files(self) -> tuple[Path, ...]:
        """What ``resume=`` continues from: the config and the checkpoints."""
        return (self.config, self.last_checkpoint, self.best_checkpoint)

    def history_files(self) -> list[Path]:
        """The files of the run's learning curve: its ``history.csv``, or a k-fold parent's folds' (in fold
        order); ``[]`` without one."""
        if self.history_csv.is_file():
            return [self.history_csv]
        return [f.history_csv for f in self.folds() if f.history_csv.is_file()]

    def top_k_checkpoint(self, epoch: int, monitor: str, value: float) -> Path:
        """One of the ``checkpoint.save_top_k`` best epochs: ``checkpoints/epoch-007_val_loss-0.0912.pt``."""
        return self.checkpoints / f"epoch-{epoch:03d}_{monitor}-{value:.6g}.pt"

    def top_k_checkpoints(self) -> list[Path]:
        """The top-k checkpoint files present, by epoch."""
        if not self.checkpoints.is_dir():
            return []
        found = [(int(m[1]), p) for p in self.checkpoints.iterdir() if (m := TOP_K.fullmatch(p.name))]
        return [p for _, p in sorted(found)]

    def rank_log(self, rank: int) -> Path:
        """The log (and traceback) of one rank of a ``trainer.nproc`` or torchrun run."""
        return self.path / f"rank_{rank}.log"

    def fold(self, number: int) -> RunDir:
        """Fold ``number`` (from 1) of a k-fold parent."""
        return RunDir(self.path / f"fold_{number}")

    def folds(self) -> list[RunDir]:
        """The fold directories of a k-fold parent, in numeric order (``fold_2`` before ``fold_10``)."""
        found = [
            (int(m[1]), p) for p in self.path.glob("fold_*") if (m := FOLD.fullmatch(p.name)) and p.is_dir()
        ]
        return [RunDir(p) for _, p in sorted(found)]

    @property
    def fold_number(self) -> int | None:
        """The fold this directory is, for a fold of a k-fold run; else ``None``."""
        match = FOLD.fullmatch(self.path.name)
        return int(match[1]) if match else None

    @property
    def is_kfold_parent(self) -> bool:
        """Whether the directory holds a finished k-fold run's ``cv_summary.json``."""
        return self.cv_summary.is_file()

    def read_summary(self) -> dict[str, Any] | None:
        """``summary.json``'s content; ``None`` when missing or damaged."""
        return _mapping(read_json(self.summary))

    def read_json_object(self, path: Path) -> dict[str, Any] | None:
        """A JSON run file's content when it is an object (``classification_report.json``, ...); else
        ``None``."""
        return _mapping(read_json(path))

    def read_cv_summary(self) -> dict[str, Any] | None:
        """``cv_summary.json``'s content; ``None`` when missing or damaged."""
        return _mapping(read_json(self.cv_summary))

    def read_config(self) -> dict[str, Any]:
        """``config.yaml`` (resolved), else ``.hydra/config.yaml``, as plain data; ``{}`` if neither."""
        for path in (self.config, self.hydra_config):
            data = _read_yaml(path)
            if isinstance(data, dict):
                return data
        return {}

    def read_sweep_results(self) -> dict[str, Any] | None:
        """An Optuna sweep's ``optimization_results.yaml`` as plain data; ``None`` if absent or damaged."""
        return _mapping(_read_yaml(self.sweep_results))

    def read_overrides(self) -> list[str]:
        """The command-line overrides of the run (``.hydra/overrides.yaml``); ``[]`` if absent or damaged."""
        items = _read_yaml(self.hydra_overrides)
        return [str(item) for item in items] if isinstance(items, list) else []

    def hydra_mode(self) -> str | None:
        """``RUN`` or ``MULTIRUN`` from ``.hydra/hydra.yaml``; ``None`` for a run not started by Hydra."""
        settings = _read_yaml(self.hydra_yaml)
        hydra = settings.get("hydra") if isinstance(settings, dict) else None
        mode = hydra.get("mode") if isinstance(hydra, dict) else None
        return str(mode) if mode is not None else None


def _read_yaml(path: Path) -> Any:
    """A YAML file as plain data (no tags, no interpolation); ``None`` when missing or damaged."""
    try:
        return yaml.load(path.read_text(), Loader=_LOADER)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _mapping(data: Any) -> dict[str, Any] | None:
    return data if isinstance(data, dict) else None
