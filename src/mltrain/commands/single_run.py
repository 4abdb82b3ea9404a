"""One training run on given rows: the unit that a single fit and each k-fold fold are made of.

    summary = fit_rows(cfg, table, loss, rows, out_dir)    # every run file in out_dir; summary.json's content

The run's files are written in an order that keeps them in agreement after an interruption at any point
(``training/callbacks/writers.py``): each epoch's checkpoint, history and summary, then, once training
ends, the plots and reports, ``model.pt`` (the best epoch's weights) and last the summary's final status.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from mltrain.commands.builders import (
    setup_metrics,
    setup_model,
    setup_optimizer,
    setup_runtime,
    setup_scheduler,
    setup_tracker,
    setup_trainer,
)
from mltrain.commands.fit_data import Prepared, Rows, prepare
from mltrain.components.losses import resolve_class_weights
from mltrain.components.models import compile_in_place
from mltrain.config.spec import RunSpec, saved_config
from mltrain.data.datasets import Table
from mltrain.data.fingerprint import rows_sha256
from mltrain.errors import ConfigError
from mltrain.files import atomic_write_json, atomic_write_text, remove_temp_files
from mltrain.interrupts import held_interrupts
from mltrain.monitoring.profile import write_profile
from mltrain.rundir import RunDir, provenance
from mltrain.startup import end_of_startup
from mltrain.training import distributed
from mltrain.training.callbacks.base import ProgressCallback
from mltrain.training.callbacks.early_stopping import EarlyStopping
from mltrain.training.callbacks.loggers import build_loggers, finish_loggers
from mltrain.training.callbacks.pruning import PruningCallback, active_reporter
from mltrain.training.callbacks.writers import CheckpointWriter, HistoryWriter, SummaryWriter
from mltrain.training.checkpoints import load_checkpoint, restore, save_checkpoint
from mltrain.training.model_summary import model_summary, summary_lines
from mltrain.training.trainer import Trainer, _to_floats

log = logging.getLogger(__name__)


def fit_rows(
    spec: RunSpec, table: Table, rows: Rows, out_dir: Path, fold: int | None = None
) -> dict[str, Any]:
    """One training run on the given rows: a fresh, freshly seeded model; every run file in ``out_dir``.

    Returns:
        ``summary.json``'s content (``status`` says how the run ended).
    """
    files = RunDir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = setup_runtime(spec)
    data = prepare(table, spec.loss, rows, device)
    spec = with_class_weights(spec, data)  # loss.class_weight=balanced counts these training rows
    model = setup_model(spec, data).to(device)
    structure = model_summary(model, data.train.x[:2])  # before compiling: the module as written
    if spec.trainer.compile:
        compile_in_place(model)
    resumed = load_resume(spec, out_dir)
    tracker = setup_tracker(spec)
    static = (
        describe_run(spec, data, model, device, table.dropped_rows)
        | {"model": structure}
        | ({"fold": fold} if fold is not None else {})
    )
    static["provenance"] = provenance.record(data_facts(table))  # command, git commit, data hash
    summary = SummaryWriter(files.summary, tracker, spec.objective, static, resumed=resumed is not None)
    reporters: list[Any] = [summary, ProgressCallback()]
    trial = active_reporter()  # a sweep trial that a pruner may stop (training/callbacks/pruning.py)
    if trial is not None and fold is None and not distributed.is_distributed():
        reporters.append(PruningCallback(trial, tracker.monitor))
    trainer = build_trainer(spec, data, model, tracker, reporters, out_dir, fold)
    if resumed is not None:
        restore(trainer, tracker, resumed)
    result: dict[str, Any] = {}
    loggers: list[Any] = []
    try:  # from the first file written on, an interruption or a failure is recorded in summary.json
        write_run_start(spec, data, out_dir)
        loggers = build_loggers(spec.config, out_dir, fold)  # logger=[tensorboard,mlflow]; none by default
        trainer.callbacks += loggers
        _log_start(spec, table, data, model, device, out_dir)
        log.info("model summary:\n%s", "\n".join(summary_lines(structure)))
        end_of_startup()  # the mltrain command's collector back on, start-up objects frozen (startup.py)
        trainer.fit(data.train, data.val)
        tracker.restore(model)
        write_profile(
            out_dir, table.frame.iloc[rows.train], data.preprocessor, spec.loss, model, data.train.x
        )
        fields = finish_run(trainer, data, tracker, out_dir, draw=trial is None or trial.plots)
        with held_interrupts():  # model.pt first: a summary that says completed always has its model
            save_checkpoint(files.model, model.state_dict())
            result = summary.finish(trainer, fields)
        finish_loggers(loggers, result)
        _log_outcome(result, out_dir)
    except BaseException as error:
        # a signal held while the outcome was written still ends the process (exit 130/143), so the summary
        # says interrupted, as the exit does; resume= finishes the run. A later failure leaves the outcome.
        if not result or isinstance(error, KeyboardInterrupt):
            summary.fail(trainer, error)
        raise
    return result


def with_class_weights(spec: RunSpec, data: Prepared) -> RunSpec:
    """The spec whose loss weighs each class as ``loss.class_weight`` says, for these training rows.

    Raises:
        ConfigError: a weight list of the wrong length or a class name the data does not have.
    """
    if spec.loss.class_weight is None:
        return spec
    codes = data.train.y.long().cpu().numpy()
    weights = resolve_class_weights(spec.loss, codes, data.preprocessor.classes or [])
    return dataclasses.replace(spec, loss=spec.loss.weighted(weights))


def write_run_start(spec: RunSpec, data: Prepared, out_dir: Path) -> None:
    """``config.yaml`` and ``preprocessing.json``; the temporary files a killed writer left are removed
    (this process holds the run's lock)."""
    run = RunDir(out_dir)
    atomic_write_text(run.config, OmegaConf.to_yaml(spec.config, resolve=True))
    atomic_write_json(run.preprocessing, data.preprocessor.to_dict())
    remove_temp_files(out_dir)


def build_trainer(
    spec: RunSpec,
    data: Prepared,
    model: nn.Module,
    tracker: EarlyStopping,
    reporters: list[Any],
    out_dir: Path,
    fold: int | None,
) -> Trainer:
    """The optimizer, metrics, schedule and the callbacks, in write order: the tracker, the checkpoint and
    history writers, then ``reporters`` (the summary writer, the progress report, the loggers)."""
    optimizer = setup_optimizer(spec, model)
    scheduler = setup_scheduler(spec, optimizer)
    params = {
        "epochs": spec.trainer.epochs,
        "batch_size": spec.trainer.batch_size,
        "samples": len(data.train),
    }
    prefix = {"fold": fold} if fold is not None else {}
    top_k = OmegaConf.select(spec.config, "checkpoint.save_top_k", default=0) or 0
    writer = CheckpointWriter(RunDir(out_dir), tracker, int(top_k))
    callbacks = [tracker, writer,
                 HistoryWriter(out_dir, params, prefix), *reporters]  # fmt: skip
    return setup_trainer(spec, model, optimizer, setup_metrics(spec, data), scheduler, callbacks)


def finish_run(
    trainer: Trainer, data: Prepared, tracker: EarlyStopping, out_dir: Path, draw: bool = True
) -> dict[str, Any]:
    """Score the test split with the best weights; write the plots (``draw``) and reports; the summary
    fields."""
    from mltrain.reporting.diagnosis import write_artifacts

    fields: dict[str, Any] = {}
    if data.test is not None:
        scores = _to_floats(trainer.evaluate(data.test))
        fields["test"] = {f"test_{k}": v for k, v in scores.items()}
        log.info("test (%d rows, best weights): %s", len(data.test),
                 "  ".join(f"{k} {v:.4f}" for k, v in fields["test"].items()))  # fmt: skip
    return fields | write_artifacts(trainer, data.val, data.preprocessor.classes, tracker, out_dir, draw)


def load_resume(spec: RunSpec, out_dir: Path) -> dict[str, Any] | None:
    """The last checkpoint of the run ``resume=<dir>`` names, after checking its config matches.

    Raises:
        ConfigError: the directory or its checkpoint is missing, or a key other than
            ``trainer.epochs`` differs from the saved config.
    """
    resume = spec.resume
    if not resume:
        return None
    run = RunDir(Path(resume))
    for name in (RunDir.last_checkpoint, RunDir.config):
        if not (run.path / name).is_file():
            raise ConfigError(f"resume={resume}: the run directory has no {name}; nothing to continue")
    if run.path.resolve() != out_dir.resolve():
        raise ConfigError(f"resume={resume} must be the run directory, got output directory {out_dir}")
    differing = config_differences(saved_config(run.config), spec.config)
    if differing:
        raise ConfigError(
            f"resume={resume}: only trainer.epochs may change when resuming; these keys differ "
            f"from the saved config: {', '.join(differing)}"
        )
    state = load_checkpoint(run.last_checkpoint)
    if spec.trainer.epochs < state["epoch"]:
        raise ConfigError(
            f"resume={resume} has done {state['epoch']} epochs, more than trainer.epochs="
            f"{spec.trainer.epochs}; set trainer.epochs >= {state['epoch']} to continue it"
        )
    return state


# keys added after runs were saved without them, with the value that behaves as those runs did
ADDED_KEYS = {"trainer.precision": "32", "trainer.accumulate_grad_batches": 1, "checkpoint.save_top_k": 0,
              "loss.class_weight": None}  # fmt: skip


def config_differences(saved: DictConfig, cfg: DictConfig) -> list[str]:
    """Dotted keys whose values differ between two configs, ignoring ``trainer.epochs`` and ``resume``."""
    a, b = (_flatten(OmegaConf.to_container(c, resolve=True)) for c in (saved, cfg))
    ignored = {"trainer.epochs", "resume"}
    a = {**{k: v for k, v in ADDED_KEYS.items() if k in b}, **a}  # a run saved before a key existed
    return sorted(k for k in a.keys() | b.keys() if k not in ignored and a.get(k) != b.get(k))


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, sub in node.items() for k, v in _flatten(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): node}


def data_facts(table: Table) -> dict[str, Any]:
    """The data a run read: a file's path, size, rows and SHA-256 (taken as it was read), or a bundled
    dataset's name, rows and the SHA-256 of its rows."""
    if table.source is not None:
        return table.source
    rows = len(table.frame) + table.dropped_rows
    return {"name": table.name, "rows": rows, "sha256": rows_sha256(table.frame)}


def describe_run(
    spec: RunSpec, data: Prepared, model: nn.Module, device: torch.device, dropped_rows: int = 0
) -> dict[str, Any]:
    """The fixed facts of a run that ``summary.json`` records; ``dropped_rows``: rows of the file left out
    for missing values."""
    return {
        "seed": spec.seed,
        "device": str(device),
        "choices": spec.choices,
        "metrics": list(spec.metrics),
        "data": {
            "train_rows": len(data.train),
            "val_rows": len(data.val) if data.val is not None else 0,
            "test_rows": len(data.test) if data.test is not None else 0,
            "dropped_rows": dropped_rows,
            "features": data.preprocessor.n_features,
            "classes": data.preprocessor.classes,
            "input_shape": list(data.input_shape) if data.input_shape else None,
        },
        "parameters": sum(p.numel() for p in model.parameters()),
    } | ({"class_weights": list(spec.loss.weights)} if spec.loss.weights else {})  # what evaluate reapplies


def _log_start(spec: RunSpec, table: Table, data: Prepared, model: nn.Module, device: torch.device,
               out_dir: Path) -> None:  # fmt: skip
    log.info(
        "%s: %d train / %d val rows, %d features%s; model %s (%s parameters) on %s; run dir %s",
        table.name, len(data.train), len(data.val) if data.val else 0, data.preprocessor.n_features,
        f", {data.n_classes} classes" if data.n_classes else "", spec.model.name,
        f"{sum(p.numel() for p in model.parameters()):,}", device, out_dir,
    )  # fmt: skip


def _log_outcome(summary: dict[str, Any], out_dir: Path) -> None:
    """``early_stopped (val_loss did not improve for 5 epochs ...): best epoch 12 (by val_loss) ...``"""
    best = summary.get("best") or {}
    shown = "  ".join(f"{k} {v:.4f}" for k, v in best.items() if k not in ("epoch", "lr", "time_s"))
    why = f" ({summary['message']})" if summary.get("message") else ""
    log.info("%s%s: best epoch %s (by %s)  %s  (%.1fs) -> %s", summary["status"], why, summary["best_epoch"],
             summary["monitor"], shown, summary["wall_time_s"], out_dir)  # fmt: skip
