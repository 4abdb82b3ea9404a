"""``mltrain fit``: build the components a config names, train, and write the run's files to ``out_dir``.

    mltrain fit optimizer=nadam loss=bce dataset=breast_cancer

Called by ``cli.py`` with the composed config and Hydra's output directory; usable directly as
``run(cfg, out_dir)`` from Python (tests do).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from mltrain.artifacts.loggers import build_loggers, finish_loggers
from mltrain.artifacts.summary import SummaryWriter
from mltrain.components.datasets import DATASETS, Table
from mltrain.components.losses import LOSSES, Loss
from mltrain.components.metrics import MetricSet
from mltrain.components.models import MODELS
from mltrain.components.optimizers import OPTIMIZERS
from mltrain.components.preprocessing import Preprocessor, drop_missing, split_indices
from mltrain.components.schedulers import SCHEDULERS
from mltrain.config import monitored, options, validate
from mltrain.errors import ConfigError, DataError
from mltrain.schemas import objective_direction
from mltrain.training.callbacks import BestWeights, ProgressCallback
from mltrain.training.checkpoints import CheckpointWriter, load_checkpoint, restore
from mltrain.training.early_stopping import EarlyStopping
from mltrain.training.history import HistoryWriter, atomic_write_json
from mltrain.training.trainer import Split, Trainer, _to_floats

log = logging.getLogger(__name__)


@dataclass
class Rows:
    """Row indices (into the table after dropping missing rows) of each part of the data."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass
class Prepared:
    """Encoded data on the device, and what the model and metrics need to know about it."""

    train: Split
    val: Split | None
    test: Split | None
    preprocessor: Preprocessor
    n_classes: int
    input_shape: tuple[int, ...] | None


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Fit the model ``cfg`` describes; write history, summary, config and ``model.pt`` to ``out_dir``.

    With ``validation=kfold`` each fold is a full run in ``out_dir/fold_<i>/`` (see ``commands/kfold.py``).

    Returns:
        The final ``summary.json`` content (``status`` says how the run ended).

    Raises:
        ConfigError, DataError: a user error, found before any training.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(out_dir):
        table = drop_missing(setup_data(cfg))
        loss: Loss = LOSSES.get(cfg.loss.name)(**options(cfg.loss))
        if cfg.validation.name == "kfold":
            if cfg.get("resume"):
                raise ConfigError("resume= does not support validation=kfold yet; start the k-fold run again")
            from mltrain.commands.kfold import run_kfold

            return run_kfold(cfg, table, loss, out_dir)
        return fit_rows(cfg, table, loss, split_rows(cfg, table, loss), out_dir)


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``<out_dir>/.lock`` (``flock``, with this process's pid in it) while the run lives.

    Raises:
        ConfigError: another live process holds the directory (a dead one's lock is released by the OS).
    """
    with open(out_dir / ".lock", "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise ConfigError(
                f"run directory {out_dir} is in use by a running mltrain process (pid {holder}); "
                "wait for it to finish or stop it first"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


def fit_rows(
    cfg: DictConfig, table: Table, loss: Loss, rows: Rows, out_dir: Path, fold: int | None = None
) -> dict[str, Any]:
    """One training run on the given rows: a fresh, freshly seeded model; every run file in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    device = setup_runtime(cfg)
    data = prepare(table, loss, rows, device)
    model = setup_model(cfg, data, loss).to(device)
    optimizer = OPTIMIZERS.get(cfg.optimizer.name)(model.parameters(), **options(cfg.optimizer))
    metrics = MetricSet(options(cfg.metric), loss, data.n_classes, target_scale(data.preprocessor))

    scheduler = setup_scheduler(cfg, optimizer)
    resumed = load_resume(cfg, out_dir)

    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
    atomic_write_json(out_dir / "preprocessing.json", data.preprocessor.to_dict())
    monitor, mode = objective(cfg, has_val=data.val is not None)
    static = describe_run(cfg, data, model, device) | ({"fold": fold} if fold is not None else {})
    summary = SummaryWriter(out_dir / "summary.json", monitor, static, mode)
    best, stopper = BestWeights(monitor, mode), setup_early_stopping(cfg)
    params = {"epochs": cfg.trainer.epochs, "batch_size": cfg.trainer.batch_size, "samples": len(data.train)}
    prefix = {"fold": fold} if fold is not None else {}
    loggers = build_loggers(cfg, out_dir, fold)  # logger=[tensorboard,mlflow]; none by default
    callbacks = [stopper, ProgressCallback(), HistoryWriter(out_dir, params, prefix), best,
                 CheckpointWriter(out_dir / "checkpoints", stopper), summary, *loggers]  # fmt: skip
    trainer = setup_trainer(cfg, model, optimizer, loss, metrics, scheduler, callbacks)
    if resumed is not None:
        restore(trainer, stopper, resumed)
        if stopper.monitor == monitor and (out_dir / "checkpoints" / "best.pt").is_file():
            best.seed(load_checkpoint(out_dir / "checkpoints" / "best.pt"))  # the best before the stop
    _log_start(cfg, table, data, model, device, out_dir)
    trainer.fit(data.train, data.val)
    best.restore(model)
    torch.save(model.state_dict(), out_dir / "model.pt")
    summary.add(finish_run(trainer, data, best.best_epoch, out_dir))
    finish_loggers(loggers, summary.summary)
    _log_outcome(summary.summary, out_dir)
    return summary.summary


def objective(cfg: DictConfig, has_val: bool) -> tuple[str, str]:
    """The history column that picks the best epoch and the sweep's objective, and ``min`` or ``max``.

    Without validation rows ``val_loss`` (the default) falls back to ``loss``, ``val_f1`` to ``f1``.
    """
    monitor = cfg.objective if has_val else cfg.objective.removeprefix("val_")
    return monitor, objective_direction(monitor, cfg.objective_mode)


def finish_run(trainer: Trainer, data: Prepared, best_epoch: int | None, out_dir: Path) -> dict[str, Any]:
    """Score the test split with the best weights; write the plots and reports; the summary fields."""
    from mltrain.artifacts.reports import write_artifacts

    fields: dict[str, Any] = {}
    if data.test is not None:
        scores = _to_floats(trainer.evaluate(data.test))
        fields["test"] = {f"test_{k}": v for k, v in scores.items()}
        log.info("test (%d rows, best weights): %s", len(data.test),
                 "  ".join(f"{k} {v:.4f}" for k, v in fields["test"].items()))  # fmt: skip
    return fields | write_artifacts(trainer, data.val, data.preprocessor.classes, best_epoch, out_dir)


def setup_trainer(
    cfg: DictConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Loss,
    metrics: MetricSet,
    scheduler: Any,
    callbacks: list[Any],
) -> Trainer:
    """The trainer with the ``trainer.*`` settings and the callbacks that write the run's files."""
    return Trainer(
        model, optimizer, loss, metrics,
        epochs=cfg.trainer.epochs,
        batch_size=cfg.trainer.batch_size,
        eval_batch_size=cfg.trainer.eval_batch_size,
        callbacks=callbacks,
        generator=torch.Generator().manual_seed(cfg.seed),
        limit_train_batches=cfg.trainer.limit_train_batches,
        limit_val_batches=cfg.trainer.limit_val_batches,
        scheduler=scheduler,
        grad_clip=cfg.trainer.grad_clip,
    )  # fmt: skip


def setup_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer) -> Any:
    """The configured learning-rate schedule; ``plateau`` watches ``loss`` for ``val_loss`` without
    validation rows."""
    kwargs = options(cfg.scheduler)
    if "monitor" in kwargs:
        kwargs["monitor"] = monitored(cfg, "scheduler")
    return SCHEDULERS.get(cfg.scheduler.name)(optimizer, epochs=cfg.trainer.epochs, **kwargs)


def setup_early_stopping(cfg: DictConfig) -> EarlyStopping:
    """Early stopping as configured; with ``patience: null`` it only tracks the best epoch."""
    es, monitor = cfg.early_stopping, monitored(cfg, "early_stopping")
    return EarlyStopping(
        monitor, objective_direction(monitor, es.mode), es.patience, es.min_delta, es.restore_best
    )


def load_resume(cfg: DictConfig, out_dir: Path) -> dict[str, Any] | None:
    """The last checkpoint of the run ``resume=<dir>`` names, after checking its config matches.

    Raises:
        ConfigError: the directory or its checkpoint is missing, or a key other than
            ``trainer.epochs`` differs from the saved config.
    """
    if not cfg.get("resume"):
        return None
    run_dir = Path(cfg.resume)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "checkpoints" / "last.pt").is_file():
        raise ConfigError(f"resume={cfg.resume}: no run with a checkpoints/last.pt there to continue")
    if run_dir.resolve() != out_dir.resolve():
        raise ConfigError(f"resume={cfg.resume} must be the run directory, got output directory {out_dir}")
    differing = config_differences(OmegaConf.load(run_dir / "config.yaml"), cfg)
    if differing:
        raise ConfigError(
            f"resume={cfg.resume}: only trainer.epochs may change when resuming; these keys differ "
            f"from the saved config: {', '.join(differing)}"
        )
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")


def config_differences(saved: DictConfig, cfg: DictConfig) -> list[str]:
    """Dotted keys whose values differ between two configs, ignoring ``trainer.epochs`` and ``resume``."""
    a, b = (_flatten(OmegaConf.to_container(c, resolve=True)) for c in (saved, cfg))
    ignored = {"trainer.epochs", "resume"}
    return sorted(k for k in a.keys() | b.keys() if k not in ignored and a.get(k) != b.get(k))


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, sub in node.items() for k, v in _flatten(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): node}


def setup_runtime(cfg: DictConfig) -> torch.device:
    """Seed every random source, set torch's threads, and pick the device."""
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    if cfg.trainer.num_threads:
        torch.set_num_threads(cfg.trainer.num_threads)
    torch.use_deterministic_algorithms(cfg.trainer.deterministic)
    return resolve_device(cfg.trainer.device)


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; asking for an absent CUDA device is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.device={name} but torch sees no CUDA device; use trainer.device=cpu or auto"
        )
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"trainer.device={name} is not a device torch knows: {e}") from e


def setup_data(cfg: DictConfig) -> Table:
    """Load the raw table and validate the whole config against it (one error listing every problem)."""
    table, problems = None, []
    loadable = not OmegaConf.missing_keys(cfg.dataset) and not DATASETS.check(
        cfg.dataset.name, options(cfg.dataset)
    )
    if loadable:
        try:
            table = DATASETS.get(cfg.dataset.name)(**options(cfg.dataset))
        except DataError as e:
            problems.append(str(e))
    validate(cfg, table, problems)
    return table


def class_labels(table: Table, loss: Loss) -> np.ndarray | None:
    """The target as strings for stratifying (classifiers), ``None`` for regression."""
    return table.frame[table.target].astype(str).to_numpy() if loss.is_classifier else None


def holdout_rows(cfg: DictConfig, table: Table, loss: Loss) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, test)``: the ``dataset.test_fraction`` test rows, held out (stratified) before validation."""
    n, fraction = len(table.frame), cfg.dataset.get("test_fraction") or 0
    if not fraction:
        return np.arange(n), np.arange(0)
    rest, test = split_indices(n, fraction, cfg.seed, class_labels(table, loss))
    if len(rest) == 0:
        raise ConfigError(f"dataset.test_fraction={fraction} leaves no rows to train on of {n}")
    return rest, test


def split_rows(cfg: DictConfig, table: Table, loss: Loss) -> Rows:
    """Training, validation and test rows of a ``validation=split`` or ``validation=none`` run."""
    rest, test = holdout_rows(cfg, table, loss)
    if cfg.validation.name != "split":
        return Rows(rest, np.arange(0), test)
    labels = class_labels(table, loss)
    train, val = split_indices(
        len(rest), cfg.validation.fraction, cfg.seed, None if labels is None else labels[rest]
    )
    if len(train) == 0:
        raise ConfigError(
            f"validation.fraction={cfg.validation.fraction} leaves no training rows of {len(rest)}"
        )
    return Rows(rest[train], rest[val], test)


def prepare(table: Table, loss: Loss, rows: Rows, device: torch.device) -> Prepared:
    """Fit the preprocessing on the training rows, encode every part, move tensors to the device."""
    pre = Preprocessor.fit(table, rows.train, loss.is_classifier)
    x = torch.from_numpy(pre.transform(table.frame)).to(device)
    y = loss.encode_targets(torch.from_numpy(pre.encode_target(table.frame[table.target]))).to(device)

    def part(idx: np.ndarray) -> Split | None:
        return Split(x[idx], y[idx]) if len(idx) else None

    n_classes = len(pre.classes) if pre.classes is not None else 0
    return Prepared(Split(x[rows.train], y[rows.train]), part(rows.val), part(rows.test), pre, n_classes,
                    table.input_shape)  # fmt: skip


def setup_model(cfg: DictConfig, data: Prepared, loss: Loss) -> nn.Module:
    """Build the configured model with the head the loss needs."""
    return MODELS.get(cfg.model.name)(
        in_features=data.preprocessor.n_features,
        out_features=loss.out_features(data.n_classes),
        input_shape=data.input_shape,
        **options(cfg.model),
    )


def target_scale(pre: Preprocessor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Regression targets are standardised for training; metrics undo it to report real units."""
    if pre.target_mean is None:
        return None
    return torch.tensor(pre.target_mean), torch.tensor(pre.target_scale)


def describe_run(cfg: DictConfig, data: Prepared, model: nn.Module, device: torch.device) -> dict[str, Any]:
    """The fixed facts of a run that ``summary.json`` records."""
    return {
        "seed": cfg.seed,
        "device": str(device),
        "choices": {
            g: cfg[g].name for g in ("optimizer", "loss", "dataset", "model", "validation", "scheduler")
        },
        "metrics": list(cfg.metric),
        "data": {
            "train_rows": len(data.train),
            "val_rows": len(data.val) if data.val is not None else 0,
            "test_rows": len(data.test) if data.test is not None else 0,
            "features": data.preprocessor.n_features,
            "classes": data.preprocessor.classes,
            "input_shape": list(data.input_shape) if data.input_shape else None,
        },
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _log_start(cfg: DictConfig, table: Table, data: Prepared, model: nn.Module, device: torch.device,
               out_dir: Path) -> None:  # fmt: skip
    log.info(
        "%s: %d train / %d val rows, %d features%s; model %s (%s parameters) on %s; run dir %s",
        table.name, len(data.train), len(data.val) if data.val else 0, data.preprocessor.n_features,
        f", {data.n_classes} classes" if data.n_classes else "", cfg.model.name,
        f"{sum(p.numel() for p in model.parameters()):,}", device, out_dir,
    )  # fmt: skip


def _log_outcome(summary: dict[str, Any], out_dir: Path) -> None:
    best = summary.get("best") or {}
    shown = "  ".join(f"{k} {v:.4f}" for k, v in best.items() if k not in ("epoch", "lr", "time_s"))
    log.info("%s: best epoch %s  %s  (%.1fs) -> %s", summary["status"], summary["best_epoch"], shown,
             summary["wall_time_s"], out_dir)  # fmt: skip
