"""``mltrain lr_find``: Smith's learning-rate range test on the model and data a fit's config describes.

    mltrain lr_find dataset=iris optimizer=sgd          # the same overrides as `mltrain fit`
    -> suggested learning rate 0.0316 (steepest descent of the smoothed loss); use: optimizer.lr=0.0316

The run directory (``runs/lr_find/<timestamp>_<overrides>/``) gets ``lr_find.csv`` (step, lr, loss,
smoothed_loss), ``lr_find.png`` and the log; no model, checkpoint or history is written: the model
trained by the sweep is thrown away. The test trains ``lr_find.steps`` batches of ``trainer.batch_size``
training rows (by default one epoch's batches, at most 100), one step each, at the run's precision, on a
freshly seeded model exactly as ``fit`` builds it (class weights included); it ignores the scheduler,
``trainer.grad_clip`` and ``trainer.accumulate_grad_batches``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from mltrain.commands.builders import setup_model, setup_optimizer, setup_runtime
from mltrain.commands.fit_data import prepare, setup_data, split_rows
from mltrain.commands.single_run import with_class_weights
from mltrain.config.checks import fill_default_metrics
from mltrain.config.spec import RunSpec
from mltrain.data.preprocessing import drop_missing
from mltrain.errors import ConfigError, Range, range_problems
from mltrain.files import atomic_file, atomic_write_text
from mltrain.rundir import RunDir, holding_run_lock
from mltrain.training.lr_finder import Curve, range_test
from mltrain.training.trainer import AUTOCAST

log = logging.getLogger(__name__)

MAX_DEFAULT_STEPS = 100  # lr_find.steps=null: one epoch's batches, at most this many
RANGES: dict[str, Range] = {
    "min_lr": (lambda v: v > 0, "> 0"),
    "max_lr": (lambda v: v > 0, "> 0"),
    "steps": (lambda v: v is None or v >= 3, ">= 3 or null"),
    "smoothing": (lambda v: 0 <= v < 1, ">= 0 and < 1"),
    "diverge": (lambda v: v > 1, "> 1"),
}


def settings_problems(settings: dict[str, Any]) -> list[str]:
    """``lr_find.*`` ranges (the schema has checked the types)."""
    problems = range_problems("lr_find.", settings, RANGES)
    if not problems and settings["max_lr"] <= settings["min_lr"]:
        problems.append(
            f"lr_find.max_lr must be > lr_find.min_lr, got max_lr={settings['max_lr']} "
            f"min_lr={settings['min_lr']}"
        )
    return problems


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run the range test; write ``lr_find.csv`` and ``lr_find.png`` to ``out_dir``.

    Returns:
        ``{"suggested_lr": ..., "steps": ..., "stopped_early": ...}``.

    Raises:
        ConfigError, DataError: bad ``lr_find.*`` keys, or what ``fit`` would refuse.
    """
    settings = OmegaConf.to_container(cfg.lr_find, resolve=True)
    assert isinstance(settings, dict)
    problems = settings_problems(settings)
    if problems:
        raise ConfigError(problems)
    with open_dict(cfg):
        del cfg["lr_find"]  # the rest is a fit's config, checked as fit checks it
    if cfg.get("resume"):
        raise ConfigError("lr_find trains a fresh model; it takes no resume=")
    out_dir = Path(out_dir)
    with holding_run_lock(out_dir):
        fill_default_metrics(cfg)
        table = drop_missing(setup_data(cfg))
        spec = RunSpec.resolve(cfg)
        if spec.is_kfold:
            raise ConfigError("lr_find runs on one split of the rows; use validation=split or none")
        device = setup_runtime(spec)
        data = prepare(table, spec.loss, split_rows(spec.splitting, table, spec.loss), device)
        spec = with_class_weights(spec, data)
        model = setup_model(spec, data).to(device)
        optimizer = setup_optimizer(spec, model)
        batch_size = spec.trainer.batch_size
        one_epoch = math.ceil(len(data.train) / batch_size)
        steps = settings["steps"] or min(one_epoch, MAX_DEFAULT_STEPS)
        if steps < 3:
            raise ConfigError(
                f"one epoch is {one_epoch} batch(es) of trainer.batch_size={batch_size} ({len(data.train)} "
                "training rows): too few rates to compare; set lr_find.steps (e.g. lr_find.steps=50, "
                "more than one epoch) or a smaller trainer.batch_size"
            )
        precision = spec.trainer.precision

        def autocast() -> Any:  # the run's precision, as the trainer's steps run
            if precision not in AUTOCAST:
                return contextlib.nullcontext()
            return torch.autocast(device.type, dtype=AUTOCAST[precision])

        curve = range_test(
            model, optimizer, spec.loss, data.train, batch_size, steps,
            settings["min_lr"], settings["max_lr"], torch.Generator().manual_seed(spec.seed),
            smoothing=settings["smoothing"], diverge=settings["diverge"],
            autocast=autocast,
        )  # fmt: skip
        return write_results(curve, out_dir, settings, steps)


def write_results(curve: Curve, out_dir: Path, settings: dict[str, Any], steps: int) -> dict[str, Any]:
    """``lr_find.csv`` and ``lr_find.png``; log the suggestion as the override to paste."""
    run = RunDir(out_dir)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["step", "lr", "loss", "smoothed_loss"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(curve.rows())
    atomic_write_text(run.lr_find_csv, text.getvalue())
    suggestion = curve.suggestion
    plot(curve, suggestion, run.lr_find_png)
    tried = f"{len(curve.lrs)} of {steps} steps" + (
        " (stopped: the loss blew up)" if curve.stopped_early else ""
    )
    if suggestion is None:
        raise ConfigError(
            f"the loss blew up after {len(curve.lrs)} step(s) from lr_find.min_lr={settings['min_lr']}: "
            f"too few points for a suggestion; lower lr_find.min_lr (see {run.lr_find_csv})"
        )
    log.info("lr_find: %s, from %.3g to %.3g; wrote %s and %s", tried, curve.lrs[0], curve.lrs[-1],
             run.lr_find_csv, run.lr_find_png)  # fmt: skip
    log.info(
        "suggested learning rate %.3g (steepest descent of the smoothed loss); use: optimizer.lr=%.3g",
        suggestion, suggestion,
    )  # fmt: skip
    return {"suggested_lr": suggestion, "steps": len(curve.lrs), "stopped_early": curve.stopped_early}


def plot(curve: Curve, suggestion: float | None, path: Path) -> None:
    """The loss and smoothed loss against the rate (log scale), the suggestion marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.subplots()
    ax.plot(curve.lrs, curve.losses, color="lightgrey", label="loss (each batch)")
    ax.plot(curve.lrs, curve.smoothed, label="smoothed loss")
    if suggestion is not None:
        ax.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggestion {suggestion:.3g}")
    finite = [v for v in curve.smoothed if math.isfinite(v)]
    if finite:  # the blown-up tail would flatten the curve
        low = min(v for v in [*finite, *curve.losses] if math.isfinite(v))
        high = max(finite[0], min(finite) * 2)
        ax.set_ylim(low - 0.05 * (high - low), high + 0.1 * (high - low))
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss",
           title="learning-rate range test")  # fmt: skip
    ax.legend()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
