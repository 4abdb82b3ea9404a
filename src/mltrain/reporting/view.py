"""The printed report: a few columns per section that fit a 100-column terminal or a pipe.

    view = section_view(section)       # View(title, columns, rows, numbers_from, note)

Per run: ``run`` (its directory under the report's root, the overrides left out of its name), the
overrides that differ within the section, ``status``, ``best epoch`` (``17 of 20``), the objective, and
two metrics (the first metric's ``test_`` and ``val_`` columns, else ``val_loss``). Grouped: the group's
values, ``runs``, statuses, and ``mean ± std`` of the same numbers. Everything else is in ``report.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from mltrain.reporting.records import RunRecord
from mltrain.reporting.table import Section, differing, resolved
from mltrain.rundir import slug

# metric columns shown, in this order: the held-out test score first, so a table too wide for both keeps it
PREFERRED = ("test_{m}", "val_{m}", "val_loss", "test_loss")
DIGITS = 6  # significant digits of a number in the overrides column (all of them are in report.csv)
SHOWN_METRICS = 2  # metric columns beside the objective
MIN_WRAP = 12  # narrowest the overrides and the run columns get when the table is too wide
GAP = 2  # spaces between columns


@dataclass
class View:
    """One section as printed: a title line, a table (columns from ``numbers_from`` on are numbers).

    Attributes:
        wraps: the column that wraps first when the table is too wide (the overrides); then the run's
            name wraps (after a ``/``), and only then the others.
        optional: how many of the last columns (the second metric) are left out when the others would
            not fit ``width`` without wrapping the run's name; they are in ``report.csv``.
    """

    title: str
    columns: list[str]
    rows: list[list[str]]
    numbers_from: int
    note: str = ""
    wraps: int | None = 1
    optional: int = 0

    def lines(self, width: int = 100) -> list[str]:
        """The section as lines of text, none longer than ``width`` (nothing cut: long cells wrap)."""
        keep = len(self.columns)
        while keep > len(self.columns) - self.optional and self._room(keep) > width:
            keep -= 1
        if keep < len(self.columns):
            rows = [row[:keep] for row in self.rows]
            return replace(self, columns=self.columns[:keep], rows=rows, optional=0).lines(width)
        widths = self._widths(width)
        rule = "-" * (sum(widths) + GAP * (len(widths) - 1))
        out = [*fold(self.title, width), *self._row(self.columns, widths), rule]
        for row in self.rows:
            out += self._row(row, widths)
        return out + (fold(self.note, width) if self.note else [])

    def _room(self, keep: int) -> int:
        """The width the first ``keep`` columns need with the overrides wrapped between overrides."""
        columns = list(zip(*[c[:keep] for c in [self.columns, *self.rows]], strict=True))
        needed = [
            max([len(c) for c in column[1:]] + [len(w) for w in column[0].split()]) for column in columns
        ]
        if self.wraps is not None:
            longest = max(len(w) for c in columns[self.wraps] for w in c.split())
            needed[self.wraps] = min(needed[self.wraps], max(MIN_WRAP, longest))
        return sum(needed) + GAP * (keep - 1)

    def _widths(self, width: int) -> list[int]:
        """Each column's width: its longest cell, narrowed step by step until the table fits ``width``.

        First headers wrap (``best epoch`` over two lines), then the overrides wrap between overrides,
        then within one, then the run's name (after a ``/``), and last the other cells.
        """
        columns = list(zip(self.columns, *self.rows, strict=True))
        natural = [max(len(c) for c in column) for column in columns]
        widths = list(natural)
        cells = [max([len(c) for c in column[1:]] + [4]) for column in columns]
        words = [max([len(w) for c in column for w in c.split()] + [4]) for column in columns]
        steps = [(i, max(cells[i], words[i])) for i in range(len(widths))]
        if self.wraps is not None:
            steps += [(self.wraps, words[self.wraps]), (self.wraps, MIN_WRAP)]
        steps += [(0, MIN_WRAP)] + [(i, 4) for i in range(len(widths))]
        for i, floor in steps:
            excess = sum(widths) + GAP * (len(widths) - 1) - width
            if excess <= 0:
                break
            widths[i] = max(min(floor, widths[i]), widths[i] - excess)
        # a name folded after a `/` may need less than its column got: give the rest to the overrides
        widths = [
            max(len(p) for c in column for p in fold(c, w)) for column, w in zip(columns, widths, strict=True)
        ]
        if self.wraps is not None:
            spare = max(0, width - sum(widths) - GAP * (len(widths) - 1))
            widths[self.wraps] = min(natural[self.wraps], widths[self.wraps] + spare)
        return widths

    def _row(self, cells: list[str], widths: list[int]) -> list[str]:
        """One table row as lines: each cell wrapped to its column, numbers right-aligned."""
        wrapped = [fold(cell, w) for cell, w in zip(cells, widths, strict=True)]
        lines = []
        for n in range(max(len(w) for w in wrapped)):
            parts = []
            for i, (column, w) in enumerate(zip(wrapped, widths, strict=True)):
                text = column[n] if n < len(column) else ""
                parts.append(text.rjust(w) if i >= self.numbers_from else text.ljust(w))
            lines.append((" " * GAP).join(parts).rstrip())
        return lines


def fold(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``: broken at spaces, else after a ``/``, else anywhere."""
    import textwrap

    width, lines = max(1, width), []
    for line in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]:
        while len(line) > width:
            cut = line.rfind("/", 0, width) + 1 or width
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def section_view(section: Section) -> View:
    """The printed table of a section: its runs one by one, or its groups."""
    if section.groups is not None:
        return _groups_view(section)
    if section.task is None:  # runs that never trained: their overrides and why they stopped
        rows = [[short_name(r), condensed(r, list(r.overrides)), str(r.numbers.get("status")),
                 str(r.numbers.get("message") or "-")] for r in section.runs]  # fmt: skip
        return View(section.title, ["run", "overrides", "status", "message"], rows, 4, wraps=3)
    keys = differing(section.runs)
    metrics = shown_metrics(section)
    columns = ["run", "overrides", "status", "best epoch", section.monitor, *metrics]
    rows = []
    for run in section.runs:
        n = run.numbers
        epochs = f"{number(n.get('best_epoch'))} of {number(n.get('epochs'))}" if n.get("epochs") else "-"
        rows.append([short_name(run), condensed(run, keys), str(n.get("status")), epochs,
                     number(n.get("objective"), n.get("objective_std")),
                     *[number(n.get(m), n.get(f"{m}_std")) for m in metrics]])  # fmt: skip
    wraps: int | None = 1
    if not keys:  # nothing differs: no column of empty cells
        columns.pop(1)
        rows, wraps = [row[:1] + row[2:] for row in rows], None
    best = section.runs[0]
    note = f"best: {best.path}" if best.numbers.get("objective") is not None else ""
    optional = max(0, len(metrics) - 1)
    return View(section.title, columns, rows, len(columns) - 1 - len(metrics), note, wraps, optional)


def _groups_view(section: Section) -> View:
    groups = section.groups if section.groups is not None else pd.DataFrame(columns=["runs"])
    keys = [c for c in groups.columns[: list(groups.columns).index("runs")]]
    metrics = shown_metrics(section)
    names = short_names(keys)
    columns = ["group", "runs", "status", section.monitor, *metrics]
    rows = []
    for _, g in groups.iterrows():
        values = " ".join(f"{names[k]}={_shown(str(g[k]))}" for k in keys if str(g[k]) not in ("", "nan"))
        numbers = [number(g.get(f"{c}_mean"), g.get(f"{c}_std")) for c in ("objective", *metrics)]
        rows.append([values or "(all)", str(g["runs"]), str(g["status"]), *numbers])
    return View(section.title, columns, rows, 3, wraps=0, optional=max(0, len(metrics) - 1))


def shown_metrics(section: Section) -> list[str]:
    """The (up to two) metric columns printed beside the objective, those the runs have."""
    frame = section.numbers()
    names = list(dict.fromkeys(m for r in section.runs for m in r.metrics))
    order = [p.format(m=m) for m in names[:1] for p in PREFERRED[:2]] + list(PREFERRED[2:])
    order += [f"val_{m}" for m in names[1:]]
    suffix = "_mean" if section.groups is not None else ""
    present = [c for c in dict.fromkeys(order) if c != section.monitor and _has(frame, c + suffix)]
    return present[:SHOWN_METRICS]


def _has(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def short_name(run: RunRecord) -> str:
    """The run's name under the report's root without the overrides mltrain put into it.

    ``fit/2026-11-27_13-04-52_debug-smoke_objective-val_accuracy`` -> ``fit/2026-11-27_13-04-52`` and
    ``multirun/2026-11-27_13-06-12/0_optimizer-sgd`` -> ``multirun/2026-11-27_13-06-12/0``: the
    overrides have a column of their own. A directory named otherwise is shown as it is.
    """
    named = slug([f"{k}={v}" for k, v in run.overrides.items()])
    head, _, last = run.name.rpartition("/")
    if named and f"_{named}" in last:
        last = last.replace(f"_{named}", "", 1)
    return f"{head}/{last}" if head else last


def short_names(keys: list[str]) -> dict[str, str]:
    """``optimizer.lr`` -> ``lr``, unless two keys end the same way (then both stay whole)."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: s if last.count(s) == 1 else k for k, s in zip(keys, last, strict=True)}


def condensed(run: RunRecord, keys: list[str]) -> str:
    """``optimizer=sgd lr=0.01 path=data.csv``: the run's values of ``keys``, short; unset ones left out."""
    names = short_names(keys)
    return " ".join(f"{names[k]}={_shown(v)}" for k in keys if (v := resolved(run, k)))


def _shown(value: str) -> str:
    """A path's last part (``data/train.csv`` -> ``train.csv``), a long number to 6 significant digits
    (``0.00705674745067419`` -> ``0.00705675``, so it never wraps in the middle); any other value as it is."""
    if "/" in value and not value.startswith("["):
        return value.rstrip("/").rsplit("/", 1)[-1]
    try:
        short = f"{float(value):.{DIGITS}g}"
    except ValueError:
        return value
    return short if len(short) < len(value) and any(c in value for c in ".eE") else value


def number(value: Any, std: Any = None) -> str:
    """4 significant digits; ``mean ± std`` (2 digits of std) when there is a std; ``-`` for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    if isinstance(std, (int, float)) and not math.isnan(std):
        return f"{text} ± {std:.2g}"
    return text
