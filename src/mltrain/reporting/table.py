"""The report's sections: runs that can be ranked together, each ranked best first, optionally grouped.

    sections = [rank(s) for s in split(runs)]       # one per task, dataset and objective, best first
    sections[0].title, differing(sections[0].runs)   # what was ranked, and the overrides that differ

A regression run's ``val_loss`` (an error on the standardised target) and a classifier's (a
cross-entropy) are not on one axis, nor are two datasets' or two objectives': each combination is a
section of its own. ``view.py`` turns a section into the printed table; :func:`full_table` is
``report.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mltrain.components.directions import direction
from mltrain.errors import ConfigError, did_you_mean
from mltrain.reporting.records import (
    LOSS_ALIASES,
    REGRESSION,
    RunRecord,
    config_keys,
    config_value,
    override_value,
)

LOSS_MONITORS = ("loss", "val_loss")
AVERAGED = ("objective", "best_epoch", "epochs", "wall_time_s")  # besides every val_/test_ metric


@dataclass
class Section:
    """Runs ranked together: the same task, dataset, objective (and loss, when the objective is one).

    Attributes:
        groups: after :func:`group`, one row per group of runs (``runs``, ``status``, the group keys,
            ``<number>_mean`` and ``<number>_std``); ``None`` when the runs are listed one by one.
    """

    task: str | None
    dataset: str
    monitor: str
    mode: str
    loss: str
    runs: list[RunRecord] = field(default_factory=list)
    groups: pd.DataFrame | None = None
    sort: str | None = None  # set by rank() when it ranked by another column than the objective

    @property
    def title(self) -> str:
        """``classification on digits: 3 runs, lowest val_loss first (sparse_categorical_crossentropy)``."""
        what = f"{self.task} on {self.dataset}"
        count = len(self.groups) if self.groups is not None else len(self.runs)
        if self.task is None:
            return f"{count} run{'' if count == 1 else 's'} that ended before training (nothing to rank)"
        noun = ("group" if self.groups is not None else "run") + ("" if count == 1 else "s")
        column = self.sort or self.monitor
        first = "lowest" if (direction(column) if self.sort else self.mode) == "min" else "highest"
        title = f"{what}: {count} {noun}, {first} {column} first"
        if self.sort:
            title += f" (objective: {self.monitor})"
        elif self.monitor in LOSS_MONITORS:
            title += f" ({self.loss}, standardised target)" if self.task == REGRESSION else f" ({self.loss})"
        return title

    def numbers(self) -> pd.DataFrame:
        """The runs' numbers (or the groups'), one row each, in the section's order."""
        if self.groups is not None:
            return self.groups
        return pd.DataFrame([r.numbers for r in self.runs], index=range(len(self.runs)))


def split(runs: list[RunRecord]) -> list[Section]:
    """Runs in sections: classification first, then regression, then by dataset and objective.

    A run that ended before it saw data (a failed sweep job) takes the task of runs with its dataset and
    loss, so it is listed with its sweep; when there are none, it goes to a last section of runs that
    ended before training (``task`` ``None``), which lists why.
    """
    known = {(r.dataset, r.loss): r.task for r in runs if r.task}
    sections: dict[tuple[str, ...], Section] = {}
    for run in runs:
        task = run.task or known.get((run.dataset, run.loss))
        loss = run.loss if run.monitor in LOSS_MONITORS else ""
        key = (task, run.dataset, run.monitor, run.mode, loss) if task else ("~", "", "", "", "")
        if key not in sections:
            sections[key] = Section(task, run.dataset, run.monitor, run.mode, run.loss)
        sections[key].runs.append(run)
    return [sections[k] for k in sorted(sections)]


def rank(section: Section, sort: str | None = None) -> Section:
    """The section's runs (or groups) best first; those without a value (failed, diverged) last.

    Args:
        sort: a column to rank by instead of the objective, in its own direction (losses ascending,
            accuracy-like columns descending); a section whose runs lack it is ranked by the objective.
    """
    frame = section.numbers()
    suffix = "_mean" if section.groups is not None else ""
    column, mode = "objective", section.mode
    if sort and sort != "objective" and f"{sort}{suffix}" in frame.columns:
        column, mode = sort, direction(sort)
        section.sort = sort
    values = pd.to_numeric(frame[f"{column}{suffix}"], errors="coerce")
    order = list(values.sort_values(ascending=mode == "min", na_position="last", kind="stable").index)
    if section.groups is not None:
        section.groups = section.groups.loc[order].reset_index(drop=True)
    else:
        section.runs = [section.runs[i] for i in order]
    return section


def check_sort(sections: list[Section], sort: str | None) -> None:
    """Refuse a ``--sort`` column that no section has, listing the ones that exist.

    Raises:
        ConfigError: the column is unknown.
    """
    columns = set(AVERAGED)
    for section in sections:
        frame = section.numbers()
        columns |= {c.removesuffix("_mean") for c in frame.columns if c.startswith(("val_", "test_"))}
    if sort and sort not in columns:
        valid = sorted(c for c in columns if not c.endswith("_std"))
        hint = did_you_mean(sort, valid)
        raise ConfigError(f"--sort {sort}: no such column; valid: {', '.join(valid)}{hint}")


def resolved(run: RunRecord, key: str) -> str:
    """The value a run had for an override key: its override, else what its config says.

    A loss's short name is its full name (``mse`` is ``mean_squared_error``), so it does not differ.
    """
    value = override_value(run.overrides[key]) if key in run.overrides else config_value(run.config, key)
    return LOSS_ALIASES.get(value, value) if key == "loss" else value


def differing(runs: list[RunRecord]) -> list[str]:
    """The override keys (of any of the runs) whose value is not the same in all of them."""
    keys = list(dict.fromkeys(k for r in runs for k in r.overrides))
    return [k for k in keys if len({resolved(r, k) for r in runs}) > 1]


def group_keys(sections: list[Section], names: list[str]) -> list[str]:
    """``--group-by`` names as config keys: ``lr`` is ``optimizer.lr`` when only one key ends so.

    A name is looked up among the runs' override keys first, then among their config keys (``seed``,
    ``trainer.batch_size``, ``lr``), so runs that did not override it are grouped by their value.

    Raises:
        ConfigError: a name that is neither, listing the runs' override keys.
    """
    runs = [r for s in sections for r in s.runs]
    overridden = list(dict.fromkeys(k for r in runs for k in r.overrides))
    configured = list(dict.fromkeys(k for r in runs for k in config_keys(r.config)))
    found, unknown = [], []
    for name in names:
        for keys in (overridden, configured):
            matches = [k for k in keys if k == name or k.endswith(f".{name}")]
            if name in keys or len(matches) == 1:
                found.append(name if name in keys else matches[0])
                break
        else:
            unknown.append(name)
    if unknown:
        hint = did_you_mean(unknown[0], [*overridden, *configured])
        raise ConfigError(f"--group-by {','.join(unknown)}: not a config key of these runs; overridden "
                          f"here: {', '.join(overridden) or 'none'}{hint}")  # fmt: skip
    return found


def group(section: Section, keys: list[str]) -> Section:
    """Merge the section's runs with the same values of ``keys`` into one row: count, mean and std."""
    rows = [{**{k: resolved(r, k) for k in keys}, **r.numbers} for r in section.runs]
    frame = pd.DataFrame(rows, index=range(len(rows)))
    numeric = [c for c in frame.columns if c in AVERAGED or c.startswith(("val_", "test_"))]
    numeric = [c for c in numeric if not c.endswith("_std")]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    grouped = frame.groupby(keys, sort=False, dropna=False)
    stats = grouped[numeric].agg(["mean", "std"])
    stats.columns = [f"{name}_{stat}" for name, stat in stats.columns]
    stats.insert(0, "runs", grouped.size())
    stats.insert(1, "status", grouped["status"].agg(_statuses))
    section.groups = stats.reset_index()
    return section


def _statuses(statuses: pd.Series) -> str:
    """``3 completed`` or ``2 completed, 1 diverged``."""
    counts = statuses.astype(str).value_counts()
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def full_table(sections: list[Section]) -> pd.DataFrame:
    """Every run of every section (or every group), as ``report.csv`` holds it: all numbers, unrounded.

    Columns: ``section`` (its title), ``task``, ``dataset``, ``monitor``, ``mode``, ``run`` and ``path``,
    each override key of any run (with the resolved value for runs that did not set it), then the
    numbers. An override key that a column is also called (``objective=``) gets the prefix ``override:``.
    """
    keys = list(dict.fromkeys(k for s in sections for r in s.runs for k in r.overrides))
    frames, overrides = [], []
    for section in sections:
        about = {"section": section.title, "task": section.task, "dataset": section.dataset,
                 "monitor": section.monitor, "mode": section.mode}  # fmt: skip
        if section.groups is not None:
            frames.append(pd.concat([pd.DataFrame([about] * len(section.groups)), section.groups], axis=1))
            continue
        values = [_prefixed(r, keys) for r in section.runs]
        overrides += [k for k in values[0] if k not in overrides]
        runs = zip(section.runs, values, strict=True)
        rows = [{**about, "run": r.name, "path": str(r.path), **v} for r, v in runs]
        frames.append(pd.concat([pd.DataFrame(rows), section.numbers()], axis=1))
    table = pd.concat(frames, ignore_index=True, sort=False)
    first = [c for c in (*about, "run", "path", *overrides) if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def _prefixed(run: RunRecord, keys: list[str]) -> dict[str, Any]:
    clashes = {"section", "task", "dataset", "monitor", "mode", "run", "path", "runs", *run.numbers}
    return {(f"override:{k}" if k in clashes else k): resolved(run, k) for k in keys}
