"""What a finished run leaves for people: the curve diagnosis, the per-class report, and the plots.

Called by ``commands/single_run.py`` after training with the best weights restored. The confusion matrix
and the per-class report come from the metric registry (``components/metrics.py``); matplotlib is
imported with ``reporting/plots.py`` inside :func:`write_artifacts`, so start-up does not pay for it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from mltrain.components.metrics import classification_report, confusion_matrix
from mltrain.files import atomic_write_json, atomic_write_text
from mltrain.rundir import RunDir
from mltrain.status import EARLY_STOPPED, PRUNED

log = logging.getLogger(__name__)

PATIENCE = 3  # epochs of rising validation loss (while training loss falls) that count as overfitting


def diagnose(
    history: list[dict[str, float]],
    patience: int = PATIENCE,
    monitor: str = "val_loss",
    mode: str = "min",
    stopped: str | None = None,
    pruned: str | None = None,
) -> dict[str, Any]:
    """Read the learning curves: ``diverged``, ``overfitting`` (from epoch E), ``early_stopped``,
        ``pruned``, ``underfitting``, ``still_improving`` or ``ok``.

        Overfitting: validation loss rose for ``patience`` consecutive epochs while training loss fell; E is
        the epoch before the rise began. Early stopped: ``stopped`` is the reason the run stopped early (it
        tells the same story as the console and the summary). Pruned: ``pruned`` is the sweep pruner's reason,
    likewise. Underfitting: training loss at the last epoch is
        still within 1% of the first epoch's. Still improving: the ``monitor`` column (``val_loss``, or
        ``loss`` without validation rows) improved at the last epoch and is at its best there.
    """
    if not history:
        return {"verdict": "no_epochs", "message": "no epoch completed"}
    losses = [r["loss"] for r in history]
    if not all(math.isfinite(v) for v in losses):
        bad = next(r["epoch"] for r in history if not math.isfinite(r["loss"]))
        return {
            "verdict": "diverged",
            "epoch": int(bad),
            "message": f"training loss became non-finite at epoch {bad}",
        }
    found = _overfitting(history, losses, patience)
    if found is not None:
        return found
    if stopped:
        return {"verdict": "early_stopped", "message": f"stopped early: {stopped}"}
    if pruned:
        return {"verdict": "pruned", "message": pruned}
    if len(losses) > 1 and losses[-1] > 0.99 * losses[0]:
        return {"verdict": "underfitting", "message": "training loss barely fell; try more epochs, a higher "
                "learning rate or a larger model"}  # fmt: skip
    column = monitor if monitor in history[-1] else "loss"
    watched = [r[column] * (1 if mode == "min" else -1) for r in history]
    if len(watched) > 1 and watched[-1] < watched[-2] and watched[-1] <= min(watched):
        return {
            "verdict": "still_improving",
            "message": f"{column} still improving at the last epoch; more epochs may help",
        }
    return {"verdict": "ok", "message": "no sign of over- or underfitting"}


def _overfitting(
    history: list[dict[str, float]], losses: list[float], patience: int
) -> dict[str, Any] | None:
    val = [r.get("val_loss") for r in history]
    if not all(v is not None for v in val):
        return None
    for i in range(len(history) - patience):
        window = range(i + 1, i + patience + 1)
        if all(val[j] > val[j - 1] and losses[j] < losses[j - 1] for j in window):
            epoch = int(history[i]["epoch"])
            return {"verdict": "overfitting", "epoch": epoch, "message": (
                f"overfitting from epoch {epoch}: validation loss rose {patience} epochs in a row "
                "while training loss fell")}  # fmt: skip
    return None


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    """``classification_report.json`` and ``.csv`` (one row per class and average)."""
    atomic_write_json(RunDir(out_dir).classification_report_json, report)
    lines = ["label,precision,recall,f1-score,support"]
    for label, row in report.items():
        if isinstance(row, dict):
            lines.append(f"{label},{row['precision']},{row['recall']},{row['f1-score']},{row['support']}")
    atomic_write_text(RunDir(out_dir).classification_report_csv, "\n".join(lines) + "\n")


def write_artifacts(
    trainer: Any, val: Any, classes: list[Any] | None, tracker: Any, out_dir: Path, draw: bool = True
) -> dict[str, Any]:
    """Diagnosis, learning curves and, for classifiers with validation rows, the report and confusion matrix.

    Args:
        trainer: the finished trainer (its history, status and message; its model holds the best weights).
        tracker: the run's best-epoch tracker (``monitor``, ``mode``, ``best_epoch``).
        draw: whether to draw the PNGs (an Optuna trial leaves them out unless its sweep asks for them:
            they are most of a small trial's cost beyond its epochs).

    Returns:
        Fields for ``summary.json``: ``diagnosis`` (and ``artifacts``, the files written).
    """
    from mltrain.reporting import plots

    stopped = trainer.message if trainer.status == EARLY_STOPPED else None
    pruned = trainer.message if trainer.status == PRUNED else None
    diagnosis = diagnose(trainer.history, monitor=tracker.monitor, mode=tracker.mode, stopped=stopped,
                         pruned=pruned)  # fmt: skip
    log.info("diagnosis: %s", diagnosis["message"])
    written = []
    best_epoch = tracker.best_epoch or None
    if trainer.history and draw:
        loss, regression = trainer.loss.name, not trainer.loss.is_classifier
        written.append(plots.learning_curves(trainer.history, best_epoch, out_dir, loss, regression))
    if classes is not None and val is not None and diagnosis["verdict"] != "diverged":
        y_pred = trainer.loss.labels(trainer.predict(val.x)).cpu()
        cm = confusion_matrix(y_pred, val.y.long().reshape(-1).cpu(), len(classes))
        write_report(classification_report(cm, classes), out_dir)
        counts = {"classes": [str(c) for c in classes], "counts": cm.tolist()}  # true class by row
        atomic_write_json(RunDir(out_dir).confusion_matrix_json, counts)  # the HTML report draws it
        written += [str(RunDir.classification_report_json), str(RunDir.classification_report_csv),
                    str(RunDir.confusion_matrix_json)]  # fmt: skip
        if draw:
            written.append(plots.confusion_matrix(cm.tolist(), classes, out_dir))
    return {"diagnosis": diagnosis, "artifacts": written}
