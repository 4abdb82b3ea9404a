"""``mltrain fit validation=kfold validation.k=5``: k full runs, one per fold, and a cross-validation summary.

    mltrain fit dataset=iris validation=kfold validation.k=5

Each fold is an ordinary run (``commands/fit.py``'s ``fit_rows``) in ``<run>/fold_<i>/``, with its own
preprocessing fitted on that fold's training rows and a fresh, freshly seeded model. The parent directory
gets ``cv_summary.json`` / ``cv_summary.csv`` (mean, std, min, max of every metric at each fold's best and
last epoch) and ``fold_indices.json`` (the validation rows of each fold).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mltrain.commands.fit_data import Rows, class_labels, holdout_rows
from mltrain.commands.single_run import fit_rows
from mltrain.components.losses import Loss
from mltrain.config.spec import RunSpec, Splitting
from mltrain.data.datasets import Table
from mltrain.files import atomic_write_json, atomic_write_text
from mltrain.rundir import RunDir
from mltrain.status import worst
from mltrain.training.callbacks.loggers import finish_cv_loggers

log = logging.getLogger(__name__)

SKIP = ("epoch", "lr", "time_s")  # history columns that are not metrics


def fold_rows(split: Splitting, table: Table, loss: Loss) -> list[Rows]:
    """The rows of each fold: StratifiedKFold for classifiers, KFold for regression, seeded.

    A ``dataset.test_fraction`` test split is held out first and shared by every fold.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    rest, test = holdout_rows(split, table, loss)
    labels = class_labels(table, loss)
    shuffle = split.validation.shuffle
    seed = split.seed if shuffle else None
    splitter = (KFold if labels is None else StratifiedKFold)(
        split.validation.k, shuffle=shuffle, random_state=seed
    )
    groups = None if labels is None else labels[rest]
    return [Rows(rest[tr], rest[va], test) for tr, va in splitter.split(np.zeros(len(rest)), groups)]


def run_kfold(spec: RunSpec, table: Table, out_dir: Path) -> dict[str, Any]:
    """Run every fold in ``out_dir/fold_<i>/``; write and return the cross-validation summary."""
    run = RunDir(out_dir)
    folds = fold_rows(spec.splitting, table, spec.loss)
    atomic_write_json(run.fold_indices, {
        "k": len(folds),
        "test": folds[0].test.tolist(),
        "folds": [{"fold": i, "val": r.val.tolist()} for i, r in enumerate(folds, 1)],
    })  # fmt: skip
    summaries = []
    for i, rows in enumerate(folds, 1):
        log.info("fold %d/%d: %d train / %d val rows", i, len(folds), len(rows.train), len(rows.val))
        summaries.append(fit_rows(spec, table, rows, run.fold(i).path, fold=i))
    cv = cv_summary(summaries)
    atomic_write_json(run.cv_summary, cv)
    atomic_write_text(run.cv_summary_csv, cv_table(summaries).to_csv(index_label="fold"))
    finish_cv_loggers(spec.config, out_dir, cv)
    log.info("cross-validation, %d folds:\n%s", len(summaries), format_cv(summaries, cv))
    log.info("%s: k-fold, %d folds -> %s", cv["status"], len(summaries), out_dir)  # the parent, for run=
    return cv


def fold_row(summary: dict[str, Any]) -> dict[str, float]:
    """One fold's numbers: ``best_<metric>`` (best epoch), ``final_<metric>`` (last epoch), test metrics."""
    row: dict[str, float] = {"best_epoch": summary["best_epoch"]}
    for when in ("best", "final"):
        row |= {f"{when}_{k}": v for k, v in (summary.get(when) or {}).items() if k not in SKIP}
    return row | summary.get("test", {})


def cv_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """Folds as rows (1..k) followed by ``mean``, ``std`` (sample, ddof=1), ``min`` and ``max`` rows."""
    folds = pd.DataFrame([fold_row(s) for s in summaries], index=[s["fold"] for s in summaries], dtype=float)
    stats = pd.DataFrame({"mean": folds.mean(), "std": folds.std(), "min": folds.min(), "max": folds.max()}).T
    return pd.concat([folds, stats])


def cv_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """``cv_summary.json``: per-metric statistics over folds, each fold's row, and the overall status."""
    table = cv_table(summaries)
    stats = table.loc[["mean", "std", "min", "max"]]
    metrics = {c: {s: _num(stats.at[s, c]) for s in stats.index} for c in stats.columns}
    monitor = summaries[0]["monitor"]
    status = worst(s["status"] for s in summaries)  # the worst fold decides
    return {
        "status": status,
        "message": "; ".join(f"fold {s['fold']}: {s['message']}" for s in summaries if s.get("message")),
        "k": len(summaries),
        "monitor": monitor,
        "objective": metrics.get(f"best_{monitor}", {}).get("mean"),
        "metrics": metrics,
        "folds": [{"fold": s["fold"], "status": s["status"], **fold_row(s)} for s in summaries],
    }


def format_cv(summaries: list[dict[str, Any]], cv: dict[str, Any]) -> str:
    """A plain-text table: one line per fold, then ``mean ± std`` of each best-epoch metric."""
    columns = [c for c in cv["metrics"] if c.startswith(("best_", "test_")) and c != "best_epoch"]
    lines = ["fold  " + "  ".join(f"{c:>22}" for c in columns)]
    for row in cv["folds"]:
        lines.append(f"{row['fold']:>4}  " + "  ".join(f"{_fmt(row.get(c)):>22}" for c in columns))
    means = (f"{_fmt(cv['metrics'][c]['mean'])} ± {_fmt(cv['metrics'][c]['std'])}" for c in columns)
    lines.append("mean  " + "  ".join(f"{m:>22}" for m in means))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"


def _num(value: Any) -> float | None:
    value = float(value)
    return None if value != value else value
