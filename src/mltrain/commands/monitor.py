"""``mltrain monitor``: how far new, unlabelled rows have drifted from a run's training rows.

    mltrain monitor run=runs/fit/<run> input=new.csv [max_drift=0.25] [max_ks=0.2] [max_drop=0.05]
    mltrain monitor run=runs/fit/<run> input=new.parquet

Compares each feature column of ``input``, and the model's predictions on it, with the run's
``profile.json`` (``monitoring/profile.py``): the population stability index and, for numbers, the
Kolmogorov-Smirnov distance (``monitoring/drift.py``). Logs a table ranked by PSI and writes
``monitor.json`` and ``plots/drift.png`` to ``out_dir``. When the input also has the target column, the
metrics are scored as ``mltrain evaluate`` does and compared with ``max_drop``. ``alert`` (a message)
is set when a PSI passes ``max_drift``, a KS distance ``max_ks`` or a metric drop ``max_drop``: ``cli.py``
then exits with status 3. A k-fold parent compares each fold with its own profile and averages the scores.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from mltrain.data.columns import UnseenCategories, parse_numbers, require_columns
from mltrain.data.preprocessing import Preprocessor
from mltrain.errors import ConfigError, DataError
from mltrain.files import atomic_write_json
from mltrain.monitoring.drift import compare_profile
from mltrain.monitoring.profile import load_profile, prediction_values
from mltrain.rundir import RunDir
from mltrain.serving.inputs import read_input
from mltrain.serving.saved_model import SavedRun, load_run, outputs

log = logging.getLogger(__name__)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Compare ``cfg.input`` with ``cfg.run``'s training profile; write ``monitor.json`` and the plot.

    Returns:
        The content of ``monitor.json``; ``alert`` says what passed its threshold (absent when none did).

    Raises:
        ConfigError, DataError: a missing key, run, profile or file, a bad threshold, a missing column.
    """
    thresholds = _thresholds(cfg)
    runs = load_run(Path(cfg.run), bool(cfg.get("trust_code", False)))
    profiles = [_profile(r, cfg.run) for r in runs]
    source = f"input={cfg.input}"
    frame = read_rows(Path(cfg.input), runs[0], source)
    unseen = UnseenCategories(source)
    unseen.add(frame, [r.preprocessor.categories for r in runs])
    unseen.warn()  # those rows are scored as all zeros, as predict and evaluate do
    scored = np.logical_and.reduce([scorable(r.preprocessor, frame) for r in runs])
    if not scored.all():
        log.warning(
            "%d of %d rows have gaps the model cannot fill: the feature columns count them, the "
            "predictions leave them out",
            (~scored).sum(),
            len(frame),
        )
    per_run = [
        compare_profile(p, frame, _predictions(r, frame[scored]) if scored.any() else {})
        for r, p in zip(runs, profiles, strict=True)
    ]
    items = rank(per_run, thresholds)
    result = {"run": str(cfg.run), "input": str(cfg.input), "rows": len(frame), "models": len(runs),
              "scored_rows": int(scored.sum()), **thresholds, "drift": items}  # fmt: skip
    result["failed"] = [f"{i['name']} ({i['source']})" for i in items if i["drifted"]]
    result["evaluation"] = label_check(runs, frame[scored], thresholds["max_drop"], source)
    _finish(result, Path(out_dir))
    return result


def _thresholds(cfg: DictConfig) -> dict[str, float | None]:
    required = [k for k in ("run", "input") if OmegaConf.is_missing(cfg, k)]
    if required:
        raise ConfigError([f"{k} is required, e.g. mltrain monitor {k}=..." for k in required])
    values = {k: cfg.get(k) for k in ("max_drift", "max_ks", "max_drop")}
    numbers = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    # `not v >= 0` refuses NaN too: no drift is ever past NaN, so it would silence the alert
    bad = [f"{k} must be a number >= 0 or null, got {v!r}" for k, v in values.items()
           if v is not None and (k not in numbers or not v >= 0)]  # fmt: skip
    if bad:
        raise ConfigError(bad)
    return {k: None if v is None else float(v) for k, v in values.items()}


def _profile(saved: SavedRun, run_dir: str) -> dict[str, Any]:
    profile = load_profile(saved.path, saved.preprocessor)
    if profile is None:
        raise ConfigError(
            f"run={run_dir}: {saved.path} has no profile.json (fitted before mltrain wrote training "
            "profiles); fit it again with the same config to monitor it"
        )
    return profile


def read_rows(path: Path, saved: SavedRun, source: str) -> pd.DataFrame:
    """The input CSV or Parquet file (``serving/inputs.py``), checked: every feature column present,
    numeric columns holding numbers."""
    pre = saved.preprocessor
    frame = read_input(path, saved, source)
    require_columns(frame, pre.features, source)
    if frame.empty:
        raise DataError(f"{source} has no rows")
    for column in pre.numeric:
        numbers, text = parse_numbers(frame[column])
        if text.any():
            raise DataError(
                f"{source}: column {column!r} holds {frame[column][text].iloc[0]!r}; "
                "the model was trained on numbers"
            )
        frame[column] = numbers
    return frame


def scorable(pre: Preprocessor, frame: pd.DataFrame) -> np.ndarray:
    """Rows the model can score: gaps only in columns the run imputes (an unseen category is all zeros)."""
    ok = np.ones(len(frame), dtype=bool)
    for column in pre.features:
        if column not in pre.fill:
            ok &= frame[column].notna().to_numpy()
    return ok


def _predictions(saved: SavedRun, frame: pd.DataFrame) -> dict[str, Any]:
    return prediction_values(saved.loss, saved.preprocessor, outputs(saved, frame))


def rank(per_run: list[list[dict[str, Any]]], thresholds: dict[str, float | None]) -> list[dict[str, Any]]:
    """Items averaged over the runs (folds), marked ``drifted``, most drifted (PSI, then KS) first."""
    items = []
    for group in zip(*per_run, strict=True):
        item = dict(group[0])  # the bins of the first fold
        for key in ("psi", "ks", "noise"):
            values = [g[key] for g in group if g[key] is not None]
            item[key] = float(np.mean(values)) if values else None
        psi_over = thresholds["max_drift"] is not None and item["psi"] > thresholds["max_drift"]
        ks_over = None not in (thresholds["max_ks"], item["ks"]) and item["ks"] > thresholds["max_ks"]
        item["drifted"] = bool(psi_over or ks_over)
        items.append(item)
    return sorted(items, key=lambda i: (-i["psi"], -(i["ks"] or 0.0)))


def label_check(
    runs: list[SavedRun], frame: pd.DataFrame, max_drop: float | None, source: str
) -> dict[str, Any] | None:
    """With the target column in the input: evaluate's metrics, change and drop on the labelled rows."""
    from mltrain.commands import evaluate

    pre = runs[0].preprocessor
    if pre.target not in frame.columns:
        return None
    labelled = frame[frame[pre.target].notna()]
    if pre.classes is not None:
        labelled = labelled[labelled[pre.target].isin(pre.classes)]  # a new label is no score
    if labelled.empty:
        return None
    scores, _, _ = evaluate.score(runs, labelled, source, warn=False)  # run() warned of unseen categories
    reference = evaluate.training_metrics(runs)
    if max_drop is not None and not reference:
        log.warning("max_drop=%s: the run kept no validation or test metrics to compare with", max_drop)
    comparison = evaluate.compare(scores, reference, max_drop)
    return {"rows": len(labelled), "metrics": scores, "training": reference, **comparison}


def _finish(result: dict[str, Any], out_dir: Path) -> None:
    """The alert message, ``monitor.json``, the plot and the logged table."""
    from mltrain.reporting import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    drops = (result["evaluation"] or {}).get("failed", [])
    alerts = []
    if result["failed"]:
        named = ", ".join(_describe(i) for i in result["drift"] if i["drifted"])
        alerts.append(f"drift past {_limits(result)}: {named}")
    if drops:
        alerts.append(f"{', '.join(drops)} dropped by more than max_drop={result['max_drop']}")
    if alerts:
        result["alert"] = "; ".join(alerts) + f"; see {RunDir(out_dir).monitor}"
    plots.drift(result["drift"], result["max_drift"], out_dir)
    atomic_write_json(RunDir(out_dir).monitor, result)
    log.info(
        "drift of %s (%d rows) from the training rows of %s:\n%s",
        result["input"],
        result["rows"],
        result["run"],
        format_table(result),
    )
    limit = result["max_drift"]
    noisy = [i["noise"] for i in result["drift"] if limit is not None and i["noise"] > limit]
    if noisy:
        log.warning(
            "with %d rows, chance alone can take the PSI past max_drift=%s for %d of %d items (up to %.3f, "
            "the noise column): compare more rows at a time",
            *(result["rows"], limit, len(noisy), len(result["drift"]), max(noisy)),
        )


def _describe(item: dict[str, Any]) -> str:
    ks = "" if item["ks"] is None else f", ks {item['ks']:.3f}"
    return f"{item['name']} ({item['source']}: psi {item['psi']:.3f}{ks})"


def _limits(result: dict[str, Any]) -> str:
    limits = [f"{k}={result[k]}" for k in ("max_drift", "max_ks") if result[k] is not None]
    return " or ".join(limits)


def format_table(result: dict[str, Any]) -> str:
    """``rank  name  source  type  psi  ks  noise`` lines, drifted items marked; then evaluate's metrics."""
    lines = [f"{'rank':>4}  {'name':<28}{'source':<12}{'type':<13}{'psi':>8}{'ks':>8}{'noise':>8}"]
    for n, i in enumerate(result["drift"], 1):
        ks = "-" if i["ks"] is None else f"{i['ks']:.4f}"
        mark = "  DRIFT" if i["drifted"] else ""
        lines.append(
            f"{n:>4}  {i['name'][:27]:<28}{i['source']:<12}{i['type']:<13}{i['psi']:>8.4f}{ks:>8}"
            f"{i['noise']:>8.4f}{mark}"
        )
    evaluation = result["evaluation"]
    if evaluation:
        from mltrain.commands.evaluate import format_table as metrics_table

        lines += [f"labelled rows: {evaluation['rows']}", metrics_table(evaluation)]
    return "\n".join(lines)
