"""``mltrain report <dirs> --html report.html``: one self-contained page to compare runs in a browser.

    write_html(sections, Path("report.html"))    # sections: commands/report.build_sections' ranked ones

The page holds plotly.js once (``plotly.offline.get_plotlyjs()``, no CDN: it opens from disk or as a CI
artifact), the runs as one JSON document, and a small hand-written script (``html_page.py``) that draws
the tables, curves, sweep views, the classifier views and the two-run diff from that JSON.

Everything comes from what the runs saved, read by ``records.py`` and ``RunDir``: the ranked sections
(``table.py``), each run's ``history.csv`` (a k-fold parent's folds: their mean and std per epoch),
``classification_report.json`` and ``confusion_matrix.json``, and the values ``mltrain diff`` compares
(``diff.py``). Run directories are untrusted data: the JSON is escaped so no string can end its
``<script>`` element, and the script puts every string into the page as text, never as HTML.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from statistics import fmean, pstdev
from typing import Any
from urllib.parse import quote

from mltrain.errors import ConfigError
from mltrain.files import atomic_write_text
from mltrain.reporting.diff import sections as diff_sections
from mltrain.reporting.records import CLASSIFICATION, RunRecord
from mltrain.reporting.table import Section, differing, resolved
from mltrain.reporting.view import condensed, short_name
from mltrain.rundir import RunDir

EXTRA = "pip install 'mltrain[html]'"
# </script>, <!--, & and the two JavaScript line separators cannot appear in the embedded JSON
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def plotly_js() -> str:
    """plotly.js's source, from the ``plotly`` package (the ``html`` extra).

    Raises:
        ConfigError: plotly is not installed: one line naming the extra.
    """
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ConfigError(f"--html needs plotly, which is not installed; {EXTRA}") from None
    return get_plotlyjs()


def check_destination(path: Path) -> None:
    """Refuse to write the page into a run directory (a run's files are never written over).

    Raises:
        ConfigError: ``path`` is inside a run directory, or is a directory.
    """
    if path.is_dir():
        raise ConfigError(f"--html {path} is a directory; name the page's file, e.g. --html report.html")
    run = RunDir.containing(path)
    if run is not None:
        raise ConfigError(f"--html {path} is inside the run directory {run.path}; write the page elsewhere")


def write_html(sections: list[Section], path: Path) -> Path:
    """Write the page for ``sections`` to ``path`` (atomically); return the path."""
    from mltrain.reporting.html_page import page

    script = plotly_js()
    data = page_data(sections, Path(path).resolve().parent)
    atomic_write_text(path, page(script, embedded_json(data)))
    return Path(path)


def embedded_json(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&``."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    for character, escape in _ESCAPES.items():
        text = text.replace(character, escape)
    return text


def page_data(sections: list[Section], html_dir: Path) -> dict[str, Any]:
    """What the page draws: the sections (title, columns, run ids in rank order) and every run."""
    runs: dict[str, dict[str, Any]] = {}
    shown = []
    for number, section in enumerate(sections):
        keys = differing(section.runs)
        metrics = _metric_columns(section)
        ids = []
        for rank, run in enumerate(section.runs, 1):
            run_id = f"r{len(runs)}"
            ids.append(run_id)
            runs[run_id] = _run(run, section, number, rank, keys, metrics, html_dir)
        shown.append({"title": section.title, "task": section.task, "monitor": section.monitor,
                      "mode": section.mode, "keys": keys, "metrics": metrics, "runs": ids})  # fmt: skip
    return {"sections": shown, "runs": runs}


def _metric_columns(section: Section) -> list[str]:
    """The section's ``val_``/``test_`` number columns, in the order the runs have them."""
    names = dict.fromkeys(k for r in section.runs for k in r.numbers if k.startswith(("val_", "test_")))
    return [k for k in names if not k.endswith("_std")]


def _run(
    run: RunRecord, section: Section, number: int, rank: int, keys: list[str], metrics: list[str],
    html_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    numbers = run.numbers
    found = {
        "name": run.name,
        "label": condensed(run, keys) or short_name(run),  # the curves' legend: what differs, else a name
        "href": _href(run.path, html_dir),
        "section": number,
        "rank": rank,
        "status": str(numbers.get("status")),
        "message": str(numbers.get("message") or ""),
        "best_epoch": _finite(numbers.get("best_epoch")),
        "epochs": _finite(numbers.get("epochs")),
        "objective": _finite(numbers.get("objective")),
        "objective_std": _finite(numbers.get("objective_std")),
        "metrics": {m: _finite(numbers.get(m)) for m in metrics},
        "overrides": {k: resolved(run, k) for k in keys},
        "curves": _curves(run),
        "diff": diff_sections(run),
    }
    if run.task == CLASSIFICATION or section.task == CLASSIFICATION:
        found["classes"] = _classes(run)
    return found


def _href(path: Path, html_dir: Path) -> str:
    """The run directory as a link relative to the page, every character that is not a path's quoted
    (so no string from a run can be a ``javascript:`` or other scheme)."""
    try:
        relative = os.path.relpath(Path(path).resolve(), html_dir)
    except ValueError:  # another drive (Windows)
        relative = str(Path(path).resolve())
    return "./" + quote(Path(relative).as_posix(), safe="/") + "/"


def _finite(value: Any) -> float | int | None:
    """A number JSON can hold (NaN and infinities: ``None``); anything that is not a number: ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _curves(run: RunRecord) -> dict[str, Any] | None:
    """``{"epoch": [...], "columns": {"loss": [...], "val_loss": [...], ...}, "std": {...}, "folds": k}``:
    the run's history; a k-fold parent's folds' mean per epoch, with their (population) std: the band.

    Read with the ``csv`` module, not pandas: 500 runs' histories in a fraction of a second.
    """
    histories = [h for h in (_history(p) for p in RunDir(run.path).history_files()) if h is not None]
    if not histories:
        return None
    skipped = ("epoch", "fold", "lr", "time_s")
    names = [c for c in dict.fromkeys(c for h in histories for c in h) if c not in skipped]
    epochs = sorted({int(e) for h in histories for e in h["epoch"]})
    values: dict[str, dict[int, list[float]]] = {c: {e: [] for e in epochs} for c in names}
    for history in histories:
        for row, epoch in enumerate(history["epoch"]):
            for name in names:
                value = history[name][row] if name in history else None
                if value is not None:
                    values[name][int(epoch)].append(value)
    found: dict[str, Any] = {
        "epoch": epochs,
        "columns": {c: [fmean(v) if v else None for v in values[c].values()] for c in names},
    }
    if len(histories) > 1:
        found["std"] = {c: [pstdev(v) if v else None for v in values[c].values()] for c in names}
        found["folds"] = len(histories)
    return found


def _history(path: Path) -> dict[str, list[float | None]] | None:
    """A ``history.csv`` as columns of finite numbers (anything else: ``None``); rows without an epoch
    are left out. ``None`` when it cannot be read or has no ``epoch`` column."""
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or "epoch" not in rows[0]:
        return None
    header = rows[0]
    columns: dict[str, list[float | None]] = {name: [] for name in header}
    at = header.index("epoch")
    for row in rows[1:]:
        numbers = [_float(v) for v in row]
        if len(row) != len(header) or numbers[at] is None:
            continue
        for name, value in zip(header, numbers, strict=True):
            columns[name].append(value)
    return columns


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _classes(run: RunRecord) -> dict[str, Any] | None:
    """The validation rows' per-class precision, recall, F1 and support, and the confusion matrix; a
    k-fold parent's: its last fold's (``fold``)."""
    files = RunDir(run.path)
    folds = files.folds()
    fold = folds[-1] if not files.classification_report_json.is_file() and folds else None
    source = fold or files
    report = source.read_json_object(source.classification_report_json)
    matrix = source.read_json_object(source.confusion_matrix_json)
    if report is None and matrix is None:
        return None
    rows = []
    for label, row in (report or {}).items():
        if isinstance(row, dict):
            rows.append(
                [str(label), *(_finite(row.get(k)) for k in ("precision", "recall", "f1-score", "support"))]
            )
    found: dict[str, Any] = {"report": rows, "fold": fold.fold_number if fold else None}
    if matrix is not None and _square(matrix.get("counts"), matrix.get("classes")):
        found["matrix"] = {"classes": [str(c) for c in matrix["classes"]],
                           "counts": [[_finite(v) for v in row] for row in matrix["counts"]]}  # fmt: skip
    return found


def _square(counts: Any, classes: Any) -> bool:
    if not isinstance(counts, list) or not isinstance(classes, list):
        return False
    return len(counts) == len(classes) and all(isinstance(r, list) and len(r) == len(classes) for r in counts)
