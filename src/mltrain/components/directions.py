"""Which way each history column is better: the one table every command, callback and report reads.

    direction("val_accuracy")          # "max"   (accuracy-like metrics, with or without val_/test_)
    direction("val_loss")              # "min"
    direction("val_r2", mode="min")    # "min"   (an explicit mode wins over the metric's own)
    worse_by("accuracy", -0.02)        # 0.02    (how much worse a change is, by the metric's direction)

The metric registry (``components/metrics.py``) registers only metrics named here, so a new metric cannot
be added without its direction. Nothing here imports torch: ``mltrain report`` ranks runs with it.
"""

from __future__ import annotations

# every metric a run can report, and the loss: "max" when larger is better
BETTER = {
    "loss": "min",
    "accuracy": "max",
    "precision": "max",
    "recall": "max",
    "f1": "max",
    "auroc": "max",
    "top_k_accuracy": "max",
    "mae": "min",
    "mse": "min",
    "rmse": "min",
    "r2": "max",
}
MODES = ("auto", "min", "max")  # what objective_mode, early_stopping.mode and scheduler.mode accept
PREFIXES = ("val_", "test_")


def metric_name(column: str) -> str:
    """A history or summary column without its ``val_`` / ``test_`` prefix: ``val_f1`` -> ``f1``."""
    for prefix in PREFIXES:
        if column.startswith(prefix):
            return column[len(prefix) :]
    return column


def direction(column: str, mode: str = "auto") -> str:
    """``min`` or ``max``: ``mode`` itself, or for ``auto`` the metric's own direction (``min`` when the
    column is not a known metric, as for a loss)."""
    if mode != "auto":
        return mode
    return BETTER.get(metric_name(column), "min")


def worse_by(column: str, change: float) -> float:
    """How much worse a change of ``change`` in ``column`` is: positive when it got worse."""
    return change if direction(column) == "min" else -change
