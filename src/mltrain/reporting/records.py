"""What ``mltrain report`` knows of one run directory, read back from the files the run wrote.

    runs = [read_run(path, root=Path("runs")) for path in find_runs([Path("runs")])]
    runs[0].task, runs[0].monitor, runs[0].numbers["objective"], runs[0].overrides

A run is a directory holding ``summary.json`` (a single run, a sweep job) or ``cv_summary.json`` (a
k-fold parent; its ``fold_<i>`` directories belong to it); :class:`mltrain.rundir.RunDir` knows where each
file is. Nothing here imports torch: a report of a few hundred runs reads JSON, YAML and CSV only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrain.components.directions import direction
from mltrain.files import DamagedFile
from mltrain.rundir import RunDir
from mltrain.status import COMPLETED

CLASSIFICATION, REGRESSION = "classification", "regression"
# the short loss names of the spec, so `loss=mse` and `loss=mean_squared_error` runs rank together
LOSS_ALIASES = {
    "ce": "sparse_categorical_crossentropy",
    "bce": "binary_crossentropy",
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
}


@dataclass
class RunRecord:
    """One finished (or running) run as the report sees it.

    Attributes:
        path: the run directory.
        name: ``path`` relative to the report's first directory (or as found).
        numbers: ``status``, ``epochs``, ``best_epoch``, ``objective``, every ``val_``/``test_`` metric of
            the best epoch (k-fold: the folds' mean, and ``<metric>_std``), ``wall_time_s``, ``message``.
        overrides: the command-line overrides it was started with (``hydra.*`` left out).
        config: its resolved ``config.yaml`` as plain data (``{}`` when missing).
        task: ``classification``, ``regression``, or ``None`` when the run ended before it saw data.
        provenance: ``summary.json``'s ``provenance`` (command, git, data file, Python), ``{}`` if absent;
            ``versions``: its library versions. A k-fold parent's are its first fold's.
    """

    path: Path
    name: str
    numbers: dict[str, Any]
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    monitor: str = "val_loss"
    mode: str = "min"
    metrics: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        """The dataset's name; a CSV's file name (``penguins.csv``) for ``dataset=csv``."""
        data = self.config.get("dataset") or {}
        path = data.get("path") if isinstance(data, dict) else None
        name = data.get("name") if isinstance(data, dict) else None
        return Path(str(path)).name if path else str(name or self.overrides.get("dataset", "?"))

    @property
    def loss(self) -> str:
        """The loss's full name (``mean_squared_error`` for ``mse``)."""
        data = self.config.get("loss") or {}
        name = str(data.get("name") if isinstance(data, dict) else data or "?")
        return LOSS_ALIASES.get(name, name)


def find_runs(dirs: list[Path]) -> list[Path]:
    """Every run directory under ``dirs``: one holding ``summary.json`` or ``cv_summary.json``.

    The ``fold_<i>`` directories of a k-fold parent are that parent's, not runs of their own.
    """
    found: set[Path] = set()
    for top in dirs:
        for marker in (RunDir.summary, RunDir.cv_summary):
            found |= {p.parent for p in Path(top).rglob(marker.name)}
    parents = {d for d in found if RunDir(d).is_kfold_parent}
    return sorted(d for d in found if not any(p in d.parents for p in parents))


def read_run(run: Path, root: Path) -> RunRecord:
    """Read one run directory (``summary.json`` or ``cv_summary.json``, its config and overrides).

    Raises:
        DamagedFile: naming a summary that is not JSON or not what ``fit`` writes (the report skips the run).
    """
    files = RunDir(run)
    summary = _checked(files.summary, files.read_summary()) or {}
    cv = _checked(files.cv_summary, files.read_cv_summary())
    folds = [f for f in files.folds() if f.summary.is_file()] if cv is not None else []
    first_fold = (_checked(folds[0].summary, folds[0].read_summary()) or {}) if folds else {}
    facts = summary or first_fold  # a k-fold parent's data sizes and metrics are its folds'
    config = files.read_config() or (folds[0].read_config() if folds else {})
    monitor = str(
        (cv or {}).get("monitor") or summary.get("monitor") or first_fold.get("monitor")
        or config.get("objective") or "val_loss"
    )  # fmt: skip
    mode = summary.get("mode") or first_fold.get("mode") or _mode(config, monitor)
    numbers = _numbers(summary, cv, first_fold, monitor)
    overrides = {}
    for item in files.read_overrides():
        key, _, value = item.lstrip("+~").partition("=")
        if not key.startswith("hydra"):
            overrides[key] = value
    return RunRecord(
        path=run, name=str(run.relative_to(root)) if root in run.parents else str(run), numbers=numbers,
        overrides=overrides, config=config, task=_task(facts), monitor=monitor, mode=str(mode),
        metrics=[str(m) for m in facts.get("metrics") or _config_metrics(config)],
        provenance=_object(facts.get("provenance")), versions=_object(facts.get("versions")),
    )  # fmt: skip


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _checked(path: Path, content: dict[str, Any] | None) -> dict[str, Any] | None:
    """A summary's ``content`` (``None`` when there is no file) with the fields the report reads checked.

    Raises:
        DamagedFile: ``<path> is damaged or not a file mltrain wrote (...)``.
    """
    if content is None:
        if path.is_file():
            raise DamagedFile(f"{path} is damaged or not a file mltrain wrote (it is not a JSON object)")
        return None
    for key, kind in SUMMARY_FIELDS.items():
        value = content.get(key)
        if kind == "numbers" and isinstance(value, dict):  # name the entry: best.val_loss='x'
            key, value, kind = next(((f"{key}.{k}", v, "a number") for k, v in value.items()
                                     if v is not None and not _number(v)), (key, None, kind))  # fmt: skip
        if value is not None and not _fits(kind, value):
            shown = " ".join(repr(value).split())[:80]
            raise DamagedFile(f"{path} is damaged or not a file mltrain wrote ({key}={shown} must be {kind})")
    return content


# the fields of summary.json and cv_summary.json the report reads, and what fit writes there
SUMMARY_FIELDS = {"best": "numbers", "test": "numbers", "final": "numbers", "data": "an object",
                  "metrics": "a list or an object", "status": "text", "message": "text", "monitor": "text",
                  "mode": "text", "epochs_completed": "a number", "best_epoch": "a number",
                  "objective": "a number", "wall_time_s": "a number"}  # fmt: skip


def _fits(kind: str, value: Any) -> bool:
    if kind == "numbers":
        return isinstance(value, dict)
    if kind == "text":
        return isinstance(value, str)
    if kind == "a number":
        return _number(value)
    return isinstance(value, dict) or (kind != "an object" and isinstance(value, list))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(
    summary: dict[str, Any], cv: dict[str, Any] | None, fold: dict[str, Any], monitor: str
) -> dict[str, Any]:
    """The report's numbers of a run; a k-fold parent's are its folds' means (and stds)."""
    metrics = dict(summary.get("best") or {})
    metrics.update(summary.get("test") or {})
    numbers = {
        "status": summary.get("status", "unknown"),
        "epochs": summary.get("epochs_completed"),
        "best_epoch": summary.get("best_epoch"),
        "objective": summary.get("objective"),
    }
    stds: dict[str, float] = {}
    if cv is not None:
        means, stds = _cv_metrics(cv)
        metrics.update(means)
        numbers.update(
            status=cv.get("status", summary.get("status", COMPLETED)),
            epochs=fold.get("epochs_completed"),
            best_epoch=means.get("epoch"),
            objective=metrics.get(monitor, cv.get("objective")),
        )
        if monitor in stds:
            numbers["objective_std"] = stds[monitor]
    shown = [k for k in metrics if k.startswith(("val_", "test_"))]
    numbers |= {k: metrics[k] for k in shown}
    numbers |= {f"{k}_std": stds[k] for k in shown if stds.get(k) is not None}
    numbers["wall_time_s"] = summary.get("wall_time_s") or (cv or {}).get("wall_time_s")
    numbers["message"] = summary.get("message") or (cv or {}).get("message") or ""
    return numbers


def _cv_metrics(cv: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Means and stds of a ``cv_summary.json``'s metrics at each fold's best epoch.

    ``{"metrics": {"best_val_accuracy": {"mean": ..., "std": ...}, "best_epoch": {...}}}`` (what
    ``validation=kfold`` writes) becomes ``{"val_accuracy": mean, "epoch": mean}`` and the stds.
    """
    means, stds = {}, {}
    for key, stats in cv.get("metrics", cv).items():
        if not isinstance(stats, dict) or key.startswith("final_"):
            continue
        name = "epoch" if key == "best_epoch" else key.removeprefix("best_")
        if isinstance(stats.get("mean"), (int, float)):
            means[name], stds[name] = stats["mean"], stats.get("std")
    return means, stds


def _task(facts: dict[str, Any]) -> str | None:
    """``classification`` when the run saw class labels, ``regression`` when it saw none."""
    data = facts.get("data")
    if not isinstance(data, dict):
        return None
    return CLASSIFICATION if data.get("classes") else REGRESSION


def _mode(config: dict[str, Any], monitor: str) -> str:
    mode = config.get("objective_mode", "auto")
    return direction(monitor, mode if mode in ("min", "max") else "auto")


def _config_metrics(config: dict[str, Any]) -> list[str]:
    metric = config.get("metric")
    return list(metric) if isinstance(metric, dict) else []


def config_value(config: dict[str, Any], key: str) -> str:
    """A key's value in a run's config as an override would spell it; ``""`` when unset or null.

    A config group's key gives its choice (``optimizer`` -> ``adam``, the group's ``name``); a list or
    the ``metric`` group gives ``[a,b]``.
    """
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, dict):
        node = node["name"] if "name" in node else list(node)
    if isinstance(node, list):
        return "[" + ",".join(str(v) for v in node) + "]"
    return "" if node is None else str(node)


def config_keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Every key of a config, dotted (``optimizer``, ``optimizer.lr``, ``trainer.epochs``, ...)."""
    keys = []
    for key, value in config.items():
        keys.append(f"{prefix}{key}")
        if isinstance(value, dict) and str(key) != "metric":
            keys += config_keys(value, f"{prefix}{key}.")
    return keys


def override_value(value: str) -> str:
    """An override's value as the report compares it: no quotes, no spaces inside lists."""
    value = value.strip().strip("'\"")
    return re.sub(r"\s*,\s*", ",", value) if value.startswith("[") else value
