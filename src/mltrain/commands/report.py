"""``mltrain report [<dir>...]``: one table of every run under the directories, best first.

    mltrain report runs/multirun/2026-11-23_21-32-16 --sort val_accuracy --group-by optimizer

Reads each run's ``summary.json`` (single runs, sweep jobs) and k-fold parents' ``cv_summary.json``, and
the overrides each run was started with (``.hydra/overrides.yaml``). :func:`build_report` returns the
table as a DataFrame; :func:`write_report` saves ``report.csv`` and ``report.png`` (the validation curves of
the best runs). ``cli.py`` prints the table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from mltrain.artifacts.sweep import read_json, read_overrides
from mltrain.errors import ConfigError
from mltrain.schemas import objective_direction

FIXED = ["run", "status", "epochs", "best_epoch", "objective"]
DESCRIPTION = "one table of runs, sweep jobs and folds, best first: mltrain report [dir ...]"


def find_runs(dirs: list[Path]) -> list[Path]:
    """Every run directory under ``dirs``: one holding ``summary.json`` or ``cv_summary.json``.

    The ``fold_<i>`` directories of a k-fold parent are that parent's, not runs of their own.
    """
    found: set[Path] = set()
    for top in dirs:
        for marker in ("summary.json", "cv_summary.json"):
            found |= {p.parent for p in Path(top).rglob(marker)}
    parents = {d for d in found if (d / "cv_summary.json").is_file()}
    return sorted(d for d in found if not any(p in d.parents for p in parents))


def _cv_metrics(cv: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Means and stds of a ``cv_summary.json``'s metrics at each fold's best epoch.

    ``{"metrics": {"best_val_accuracy": {"mean": ..., "std": ...}, "test_loss": {...}}}`` (what
    ``validation=kfold`` writes) becomes ``{"val_accuracy": mean, "test_loss": mean}`` and the stds.
    """
    means, stds = {}, {}
    for key, stats in cv.get("metrics", cv).items():
        if not isinstance(stats, dict) or key.startswith("final_") or key == "best_epoch":
            continue
        name = key.removeprefix("best_")
        if isinstance(stats.get("mean"), (int, float)):
            means[name], stds[name] = stats["mean"], stats.get("std")
    return means, stds


def run_row(run: Path, root: Path) -> dict[str, Any]:
    """The numbers of one run: status, epochs, objective, every val_/test_ metric, wall time.

    A k-fold parent's metrics are the folds' mean (and std) at their best epochs, from ``cv_summary.json``.
    """
    summary = read_json(run / "summary.json") or {}
    cv = read_json(run / "cv_summary.json")
    metrics = dict(summary.get("best") or {})
    metrics.update(summary.get("test") or {})
    objective, monitor, mode = summary.get("objective"), summary.get("monitor"), summary.get("mode")
    stds: dict[str, float] = {}
    if cv is not None:
        means, stds = _cv_metrics(cv)
        metrics.update(means)
        folds = sorted(run.glob("fold_*/summary.json"))
        fold = read_json(folds[0]) if folds else {}
        monitor = cv.get("monitor") or monitor or (fold or {}).get("monitor", "val_loss")
        mode = mode or (fold or {}).get("mode")
        objective = metrics.get(monitor, cv.get("objective", objective))
        summary = {**summary, "status": cv.get("status", summary.get("status", "completed"))}
    row = {
        "run": str(run.relative_to(root)) if root in run.parents else str(run),
        "status": summary.get("status", "unknown"),
        "epochs": summary.get("epochs_completed"),
        "best_epoch": summary.get("best_epoch"),
        "objective": objective,
        "mode": mode or objective_direction(str(monitor or "val_loss")),
    }
    shown = [k for k in metrics if k.startswith(("val_", "test_"))]
    row |= {k: metrics[k] for k in shown}
    row |= {f"{k}_std": stds[k] for k in shown if stds.get(k) is not None}
    row["wall_time_s"] = summary.get("wall_time_s")
    return row


def overrides_table(runs: list[Path]) -> pd.DataFrame:
    """One column per override key the runs were started with (``hydra.*`` left out; absent: empty)."""
    parsed = []
    for run in runs:
        pairs = (item.lstrip("+~").partition("=") for item in read_overrides(run))
        parsed.append({k: v for k, _, v in pairs if not k.startswith("hydra")})
    return pd.DataFrame(parsed, index=range(len(runs)), dtype=object).fillna("")


def build_report(
    dirs: list[Path], sort: str | None = None, group_by: list[str] | None = None
) -> pd.DataFrame:
    """The report table, best run (or group) first.

    Args:
        dirs: directories to search for runs (a run directory itself works too).
        sort: the column to rank by; default ``objective`` (in the runs' own direction).
        group_by: override keys (``optimizer``, ``optimizer.lr``); rows with the same values, e.g.
            repeated seeds, become one row of ``<metric>_mean`` / ``<metric>_std`` and a ``runs`` count.

    Raises:
        ConfigError: a directory that does not exist, no runs found, or an unknown sort or group key.
    """
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"no such directory: {', '.join(missing)}")
    runs = find_runs([Path(d) for d in dirs])
    if not runs:
        where = ", ".join(map(str, dirs))
        raise ConfigError(f"no runs (summary.json) under {where}; train one with mltrain fit")
    root = Path(dirs[0])
    numbers = pd.DataFrame([run_row(r, root) for r in runs])
    overrides = overrides_table(runs)
    shown = [c for c in overrides.columns if overrides[c].nunique() > 1]
    table = pd.concat([numbers[["run"]], overrides[shown], numbers.drop(columns="run")], axis=1)
    if group_by:
        table = _group(table, overrides, group_by)
    return _rank(table, sort)


def _group(table: pd.DataFrame, overrides: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    unknown = [k for k in keys if k not in overrides.columns]
    if unknown:
        raise ConfigError(f"--group-by {','.join(unknown)}: not an override of these runs; "
                          f"valid: {', '.join(overrides.columns) or 'none'}")  # fmt: skip
    table = table.drop(columns=[c for c in keys if c in table.columns]).join(overrides[keys])
    numeric = [c for c in table.columns if c not in keys and pd.api.types.is_numeric_dtype(table[c])]
    grouped = table.groupby(keys, sort=False)
    stats = grouped[numeric].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    stats.insert(0, "runs", grouped.size())
    stats["mode"] = grouped["mode"].first()
    return stats.reset_index()


def _rank(table: pd.DataFrame, sort: str | None) -> pd.DataFrame:
    column = sort or "objective"
    if column not in table.columns and f"{column}_mean" in table.columns:
        column = f"{column}_mean"
    if column not in table.columns:
        numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        raise ConfigError(f"--sort {sort}: no such column; valid: {', '.join(numeric)}")
    name = column.removesuffix("_mean")
    mode = str(table["mode"].iloc[0]) if name == "objective" else objective_direction(name)
    ranked = table.sort_values(column, ascending=mode == "min", na_position="last", kind="stable")
    return ranked.drop(columns="mode").reset_index(drop=True)


def write_report(table: pd.DataFrame, root: Path, top: int = 5) -> list[Path]:
    """Save ``report.csv`` and, when the runs have histories, ``report.png`` in ``root``; return the paths."""
    root = Path(root)
    written = [root / "report.csv"]
    table.to_csv(written[0], index=False)
    if "run" in table.columns:
        runs = [root / r if (root / r).is_dir() else Path(r) for r in table["run"].head(top)]
        if plot_curves(runs, root / "report.png"):
            written.append(root / "report.png")
    return written


def plot_curves(runs: list[Path], path: Path) -> bool:
    """Overlay each run's validation curve (its monitor, else ``val_loss``); ``False`` when none has one."""
    curves = []
    for run in runs:
        history = run / "history.csv"
        if history.is_file():
            frame = pd.read_csv(history)
            monitor = str((read_json(run / "summary.json") or {}).get("monitor", "val_loss"))
            column = monitor if monitor in frame.columns else "val_loss"
            if column in frame.columns and len(frame):
                curves.append((run.name or str(run), frame["epoch"], frame[column], column))
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, epochs, values, _ in curves:
        ax.plot(epochs, values, marker="o", markersize=3, label=name[:60])
    ax.set(xlabel="epoch", ylabel=", ".join(sorted({c[3] for c in curves})), title="best runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def formatted(table: pd.DataFrame) -> list[list[str]]:
    """The table's cells as text: 4 significant digits, ``mean ± std`` for grouped and k-fold metrics."""
    rows = []
    for _, record in table.iterrows():
        cells = []
        for column in display_columns(table):
            std = record.get(column.removesuffix("_mean") + "_std")
            if column.endswith("_mean") or (std is not None and not pd.isna(std)):  # grouped or k-fold
                cells.append(f"{_number(record[column])} ± {_number(std)}")
            else:
                cells.append(_number(record[column]))
        rows.append(cells)
    return rows


def display_columns(table: pd.DataFrame) -> list[str]:
    """Columns to show: every one but the ``_std`` halves of grouped metrics."""
    return [c for c in table.columns if not c.endswith("_std")]


def headers(table: pd.DataFrame) -> list[str]:
    """Column titles: ``val_accuracy (mean ± std)`` for a grouped metric, else the column name."""
    columns = display_columns(table)
    return [f"{c.removesuffix('_mean')} (mean ± std)" if c.endswith("_mean") else c for c in columns]


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def parse_args(args: list[str]) -> Any:
    """``mltrain report [dir ...] [--sort M] [--group-by k1,k2] [--top N]``'s options."""
    import argparse

    parser = argparse.ArgumentParser(prog="mltrain report", description=DESCRIPTION)
    parser.add_argument("dirs", nargs="*", default=["runs"], help="directories to search (default: runs)")
    parser.add_argument("--sort", help="column to rank by (default: objective, in its own direction)")
    parser.add_argument("--group-by", default="", help="override keys to average runs over: optimizer,lr")
    parser.add_argument("--top", type=int, default=5, help="runs whose validation curves report.png shows")
    return parser.parse_args(args)


def run_from_args(args: list[str]) -> tuple[list[str], list[list[str]], list[Path]]:
    """Build, save and format the report: ``(column titles, rows of cells, files written)``.

    Raises:
        ConfigError: a missing directory, no runs, an unknown ``--sort`` or ``--group-by`` key.
    """
    options = parse_args(args)
    group_by = [k.strip() for k in options.group_by.split(",") if k.strip()]
    table = build_report([Path(d) for d in options.dirs], options.sort, group_by)
    written = write_report(table, Path(options.dirs[0]), options.top)
    return headers(table), formatted(table), written
