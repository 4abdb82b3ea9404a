"""``mltrain evaluate``: score a finished run's model, compare with training time, flag regressions.

    mltrain evaluate run=runs/fit/<run>          # the run's test rows, else its validation rows
    mltrain evaluate run=runs/fit/<run> input=new.csv max_drop=0.05
    mltrain evaluate run=runs/fit/<run> input=new.parquet

Writes ``evaluation.json`` (metrics, change against the training-time metrics, and for classifiers the
confusion matrix and per-class report) and ``plots/confusion_matrix.png`` to ``out_dir``. ``failed`` lists
the metrics worse than at training time by more than ``max_drop``; ``cli.py`` then exits with status 3.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from mltrain.components.directions import worse_by
from mltrain.components.metrics import MetricSet, classification_report, confusion_matrix
from mltrain.data.columns import UnseenCategories
from mltrain.errors import ConfigError, DataError
from mltrain.files import atomic_write_json
from mltrain.rundir import RunDir
from mltrain.serving.inputs import read_input
from mltrain.serving.saved_model import SavedRun, check_frame, ensemble_outputs, load_run

log = logging.getLogger(__name__)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Evaluate ``cfg.run``'s model on ``cfg.input`` (or its held-out rows); write ``evaluation.json``.

    Returns:
        The content of ``evaluation.json``; ``failed`` names the metrics that dropped by over ``max_drop``.

    Raises:
        ConfigError, DataError: a missing key, run or file, a missing column, an unseen category or label.
    """
    if OmegaConf.is_missing(cfg, "run"):
        raise ConfigError("run is required, e.g. mltrain evaluate run=runs/fit/<run>")
    runs = load_run(Path(cfg.run), bool(cfg.get("trust_code", False)))
    frame, source = _rows(runs, cfg.input)
    result, cm = evaluate_frame(runs, frame, source, cfg.max_drop)
    result = {"run": str(cfg.run), **result}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cm is not None:
        from mltrain.reporting import plots

        plots.confusion_matrix(
            result["confusion_matrix"],
            result["classes"],
            out_dir,
            rows=f"{result['input']}, {int(cm.sum())} rows",
            run=cfg.run,
        )
    atomic_write_json(RunDir(out_dir).evaluation, result)
    rows = f"{result['rows']} rows scored of {len(frame)}"
    log.info("evaluation of %s on %s (%s):\n%s", cfg.run, source, rows, format_table(result))
    log.info("wrote %s", RunDir(out_dir).evaluation)
    return result


def evaluate_frame(
    runs: list[SavedRun], frame: pd.DataFrame, source: str, max_drop: float | None = None
) -> tuple[dict[str, Any], Tensor | None]:
    """Score ``runs`` (one model, or a fold ensemble) on the labelled rows of ``frame``; write nothing.

    Returns:
        ``evaluation.json``'s content without ``run``, and for classifiers the confusion matrix (``None``
        for regression).

    Raises:
        DataError: no target column, a missing feature column, an unseen category or label.
    """
    scores, y_true, y_pred = score(runs, frame, source)
    reference = training_metrics(runs)
    scored = int(frame[runs[0].preprocessor.target].notna().sum())  # rows without a label are not scored
    result = {"input": source, "rows": scored, "file_rows": len(frame), "models": len(runs),
              "metrics": scores, "training": reference, **compare(scores, reference, max_drop)}  # fmt: skip
    classes = runs[0].classes
    if classes is None:
        return result, None
    cm = confusion_matrix(y_pred, y_true, len(classes))
    result["classes"] = classes
    result["confusion_matrix"] = cm.tolist()
    result["report"] = classification_report(cm, classes)
    return result, cm


def _rows(runs: list[SavedRun], source: str | None) -> tuple[pd.DataFrame, str]:
    """The labelled rows to score: a CSV or Parquet file, or the run's test (else validation) rows rebuilt
    from its config."""
    if source is not None:
        return read_input(Path(source), runs[0], f"input={source}"), f"input={source}"
    if len(runs) > 1:
        raise ConfigError(
            "a k-fold run has no common held-out rows; pass input=<labelled csv or parquet>, "
            "or run=<run>/fold_<i>"
        )
    return held_out_rows(runs[0])


def held_out_rows(saved: SavedRun) -> tuple[pd.DataFrame, str]:
    """Rebuild the run's split from its saved config and seed; its test rows, else its validation rows."""
    from mltrain.commands.fit_data import split_rows
    from mltrain.commands.kfold import fold_rows
    from mltrain.data.datasets import DATASETS
    from mltrain.data.preprocessing import drop_missing

    spec = saved.spec
    table = drop_missing(DATASETS.get(spec.dataset.name)(**spec.dataset.options))
    fold = saved.summary.get("fold")
    split = spec.splitting
    rows = fold_rows(split, table, spec.loss)[fold - 1] if fold else split_rows(split, table, spec.loss)
    part, name = (rows.test, "test rows") if len(rows.test) else (rows.val, "validation rows")
    if not len(part):
        raise ConfigError(
            f"run={saved.path} kept no test or validation rows; pass input=<labelled csv or parquet>"
        )
    return table.frame.iloc[part].reset_index(drop=True), f"the run's {name}"


@torch.no_grad()
def score(
    runs: list[SavedRun], frame: pd.DataFrame, source: str, warn: bool = True
) -> tuple[dict[str, float], Tensor | None, Tensor | None]:
    """Loss and the run's metrics on the labelled rows of ``frame``; true and predicted class indices for
    classifiers. Rows with categories the model never saw are scored as all zeros, with a warning line
    (unless ``warn`` is false: the caller warned already)."""
    first = runs[0]
    pre, loss = first.preprocessor, first.loss
    if pre.target not in frame.columns:
        raise DataError(f"{source} has no target column {pre.target!r}; evaluate needs labelled rows")
    frame = frame.dropna(subset=[pre.target])
    if frame.empty:
        raise DataError(f"{source} has no rows with a label in {pre.target!r}; evaluate needs labelled rows")
    for r in runs:
        check_frame(r.preprocessor, frame, source)
    if warn:
        unseen = UnseenCategories(source)
        unseen.add(frame, [r.preprocessor.categories for r in runs])
        unseen.warn()
    y = loss.encode_targets(torch.from_numpy(pre.encode_target(frame[pre.target])))
    out = ensemble_outputs(runs, frame)
    scale = (
        None if pre.target_mean is None else (torch.tensor(pre.target_mean), torch.tensor(pre.target_scale))
    )
    n_classes = len(pre.classes) if pre.classes is not None else 0
    metrics = MetricSet(first.spec.metrics, loss, n_classes, scale)
    scores = {k: float(v) for k, v in {"loss": loss(out, y), **metrics(out, y)}.items()}
    if pre.classes is None:
        return scores, None, None
    return scores, y.long(), loss.labels(out)


def training_metrics(runs: list[SavedRun]) -> dict[str, float]:
    """The training-time numbers to compare with: test metrics if the run had a test split, else the
    best epoch's validation metrics (the mean over folds for a k-fold run)."""
    found: dict[str, list[float]] = {}
    for r in runs:
        s = r.summary
        values = {k[5:]: v for k, v in (s.get("test") or {}).items()}
        if not values:
            best = s.get("best") or {}
            values = {k[4:]: v for k, v in best.items() if k.startswith("val_")}
        for k, v in values.items():
            found.setdefault(k, []).append(v)
    return {k: sum(v) / len(v) for k, v in found.items() if None not in v}


def compare(scores: dict[str, float], reference: dict[str, float], max_drop: float | None) -> dict[str, Any]:
    """``change`` (now minus then) and ``drop`` (how much worse, by each metric's direction) per metric."""
    change = {k: scores[k] - reference[k] for k in scores if k in reference}
    drop = {k: worse_by(k, v) for k, v in change.items()}
    failed = [k for k, d in drop.items() if max_drop is not None and d > max_drop]
    return {"change": change, "drop": drop, "max_drop": max_drop, "failed": failed}


def format_table(result: dict[str, Any]) -> str:
    """``metric  now  training  change`` lines, failed metrics marked."""
    lines = [f"{'metric':<16}{'now':>10}{'training':>10}{'change':>10}"]
    for name, value in result["metrics"].items():
        then = result["training"].get(name)
        change = result["change"].get(name)
        mark = "  FAILED (drop > max_drop)" if name in result["failed"] else ""
        lines.append(f"{name:<16}{value:>10.4f}{_fmt(then):>10}{_fmt(change, '+.4f'):>10}{mark}")
    return "\n".join(lines)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)
