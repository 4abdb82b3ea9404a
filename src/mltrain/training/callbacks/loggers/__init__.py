"""Experiment trackers a run also logs to: ``logger=[tensorboard,mlflow]`` (default: none).

    mltrain fit logger=[tensorboard,mlflow]

Each logger is a trainer callback built by a registered builder whose arguments are its YAML keys
(``conf/logger/<name>.yaml``). ``commands/fit.py`` adds :func:`build_loggers`' callbacks to a run and calls
:func:`finish_loggers` once the run's summary, plots and ``model.pt`` exist; ``commands/kfold.py`` calls
:func:`finish_cv_loggers` with the cross-validation summary. The trackers' packages (torch's TensorBoard
writer, MLflow) are imported only when a run logs to them, so start-up and ``--help`` never pay for them.

A tracker never loses a training run: a logger whose call fails warns once, with the reason, and is off
for the rest of the process (:class:`RunLogger`).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mltrain.components.metrics import metric_names
from mltrain.components.registry import Registry
from mltrain.rundir import RunDir, override_key
from mltrain.status import INTERRUPTED, RUNNING
from mltrain.training.callbacks.base import Callback

log = logging.getLogger(__name__)

LOGGERS: Registry = Registry("logger")
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # logger -> the module it needs (its extra)
ENDED_EARLY = (INTERRUPTED, RUNNING)  # trainer status at fit end when fit_rows will not finish the run
_disabled: set[str] = set()  # loggers that failed in this process: off for its remaining runs


@dataclass
class RunInfo:
    """Where a run's files are and where it sits: a sweep job, a fold of a k-fold run, or on its own.

    Args:
        cfg: the run's composed config.
        out_dir: the run's directory (a fold's ``<run>/fold_<i>``).
        fold: the fold number in a k-fold run, else ``None``.
    """

    cfg: DictConfig
    out_dir: Path
    fold: int | None = None

    @property
    def run_dir(self) -> Path:
        """The directory Hydra made for the run: the k-fold parent of a fold."""
        return self.out_dir.parent if self.fold is not None else self.out_dir

    @cached_property
    def sweep_dir(self) -> Path | None:
        """The multirun's directory when this run is one of its jobs (Hydra's ``.hydra/hydra.yaml`` says)."""
        return self.run_dir.parent if RunDir(self.run_dir).hydra_mode() == "MULTIRUN" else None

    @cached_property
    def overrides(self) -> list[str]:
        """The command-line overrides of the run (``.hydra/overrides.yaml``), ``logger`` keys left out."""
        saved = RunDir(self.run_dir).read_overrides()
        return [o for o in saved if override_key(o).split(".")[0] != "logger"]


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as ``{"optimizer.lr": 0.001, ...}``; lists are kept as lists."""

    def walk(node: Any, prefix: str) -> dict[str, Any]:
        if isinstance(node, dict) and node:
            return {k: v for key, sub in node.items() for k, v in walk(sub, f"{prefix}{key}.").items()}
        return {prefix.rstrip("."): node}

    return walk(OmegaConf.to_container(cfg, resolve=True), "")


def hyperparameters(run: RunInfo) -> dict[str, Any]:
    """The settings worth comparing runs by: each group's choice, seed, lr, epochs, batch size, and every
    key overridden on the command line, as numbers, strings or booleans (lists joined by commas)."""
    cfg = run.cfg
    chosen = {g: cfg[g].name for g in ("optimizer", "loss", "dataset", "model", "validation", "scheduler")}
    chosen |= {"metric": metric_names(cfg), "seed": cfg.seed, "optimizer.lr": cfg.optimizer.lr,
               "trainer.epochs": cfg.trainer.epochs,
               "trainer.batch_size": cfg.trainer.batch_size}  # fmt: skip
    flat = flat_config(cfg)
    for override in run.overrides:
        key, _, text = override.lstrip("+~").partition("=")
        if flat.get(key) is not None:
            chosen[key] = flat[key]
        elif key not in chosen and not key.startswith("hydra"):  # a group choice such as debug=smoke
            chosen[key] = text
    if run.fold is not None:
        chosen["fold"] = run.fold
    return {k: _scalar(v) for k, v in chosen.items()}


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(str(k) for k in value) if value else ""
    return "null" if value is None else value


class RunLogger(Callback):
    """A tracker as a trainer callback. Subclasses implement ``start``, ``log_epoch``, ``finish``, ``end``.

    Every call goes through :meth:`safely`: a tracker that fails (a server gone, a full disk, a missing
    permission) logs one warning with the reason and is off for the rest of the process; the run goes on.
    """

    kind = "logger"

    @property
    def target(self) -> str:
        """What a failure turns off for the rest of the process: this kind of logger (MLflow: at one URI)."""
        return self.kind

    def on_fit_begin(self, trainer: Any) -> None:
        self.safely("start", self.start, trainer)

    def on_epoch_end(self, trainer: Any, epoch: int, row: dict[str, float]) -> None:
        self.safely("log epoch", self.log_epoch, epoch, row)

    def on_fit_end(self, trainer: Any) -> None:
        if trainer.status in ENDED_EARLY:  # Ctrl-C or a crash: fit_rows will not call finish_loggers
            self.safely("end", self.end, trainer.status)

    def safely(self, what: str, call: Any, *args: Any) -> None:
        """Run ``call(*args)`` unless this kind of logger failed before; a failure warns and turns it off."""
        if self.target in _disabled:
            return
        try:
            call(*args)
        except Exception as e:  # noqa: BLE001 - a tracker must never stop a training run
            _disabled.add(self.target)
            log.warning("logger %s failed to %s (%s); the run goes on without it",
                        self.kind, what, _reason(e))  # fmt: skip
            self.safely_close()

    def start(self, trainer: Any) -> None:
        """Open the tracker's run and record the hyperparameters."""

    def log_epoch(self, epoch: int, row: dict[str, float]) -> None:
        """Record one history row."""

    def finish(self, summary: dict[str, Any]) -> None:
        """Record the outcome and the run's files, and close (the summary, plots and model exist)."""

    def end(self, status: str) -> None:
        """Close after a run that ended without a summary (interrupted, crashed)."""

    def safely_close(self) -> None:
        """Release what the tracker holds after a failure; must not raise."""


def _reason(error: Exception, limit: int = 300) -> str:
    """``Type: message`` on one line; a long message keeps its start and its end (where the cause is)."""
    text = " ".join(str(error).split())
    if len(text) > limit:
        text = f"{text[: limit // 2]} ... {text[-limit // 2 :]}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def build_loggers(cfg: DictConfig, out_dir: Path, fold: int | None = None) -> list[RunLogger]:
    """The callbacks of the loggers ``cfg.logger`` names (``[]`` when none), for the run in ``out_dir``."""
    if not cfg.get("logger"):
        return []
    run = RunInfo(cfg, Path(out_dir), fold)
    return [LOGGERS.get(name)(run, **_options(cfg.logger[name])) for name in cfg.logger]


def finish_loggers(loggers: list[RunLogger], summary: dict[str, Any]) -> None:
    """Hand each logger the final ``summary.json``; each records it, uploads the run's files and closes."""
    for logger in loggers:
        logger.safely("finish", logger.finish, summary)


def finish_cv_loggers(cfg: DictConfig, out_dir: Path, cv: dict[str, Any]) -> None:
    """A k-fold run's cross-validation summary, for loggers that keep a parent run over the folds."""
    for logger in build_loggers(cfg, out_dir):
        finish_cv = getattr(logger, "finish_cv", None)
        if finish_cv is not None:
            logger.safely("finish the k-fold parent run", finish_cv, cv)


def logger_problems(cfg: DictConfig) -> list[str]:
    """Unknown loggers or keys, and loggers whose package is not installed (with the extra to install)."""
    if not cfg.get("logger"):
        return []
    problems = []
    for name in cfg.logger:
        found = [  # the registry says logger.<key>; the key users type is logger.<name>.<key>
            p.replace("logger.", f"logger.{name}.", 1) if p.startswith("logger.") else p
            for p in LOGGERS.check(name, _options(cfg.logger[name]), skip=("run",))
        ]
        problems += found
        if not found and importlib.util.find_spec(PACKAGES[name]) is None:
            problems.append(f'logger={name} needs the {PACKAGES[name]} package: pip install -e ".[{name}]" '
                            f'(or pip install {PACKAGES[name]})')  # fmt: skip
    return problems


def _options(node: Any) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


# the builders register themselves; both modules are light (each imports its tracker only when a run starts)
from mltrain.training.callbacks.loggers import mlflow_logger, tensorboard_logger  # noqa: E402, F401
