"""``mltrain report [<dir>...]``: the runs under the directories, ranked best first, section by section.

    mltrain report runs                                   # every fit, sweep job and k-fold run
    mltrain report runs/multirun/2026-11-23_21-32-16 --group-by optimizer,lr

Runs are read back from their files (``reporting/records.py``), split into sections that can be
ranked together (one per task, dataset and objective: ``reporting/table.py``) and printed a few
columns each (``reporting/view.py``); ``report.csv`` holds every number and ``report.png`` the
validation curves of the best runs of each section. ``cli.py`` prints the views.

Importing this module is light (argparse only), so tab completion can read :func:`parser`'s options;
pandas and matplotlib come in with the functions that use them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mltrain.reporting.plots import Curve
    from mltrain.reporting.records import RunRecord
    from mltrain.reporting.table import Section

log = logging.getLogger(__name__)

DESCRIPTION = """\
The runs under the directories (fits, sweep jobs, k-fold runs), best first: one table per task, dataset
and objective, since their numbers cannot be ranked together. Each shows the run (its directory without
the overrides in its name), the overrides that differ, status, best epoch, the objective and two metrics.
report.csv (every number of every run) and report.png (the curves of the best runs) go into the first
directory."""
EXAMPLES = """examples:
  mltrain report                                        every run under runs/
  mltrain report runs/multirun/<sweep> --sort val_accuracy
  mltrain report runs/multirun/<sweep> --group-by optimizer,lr    mean ± std over seeds
  mltrain report runs --long                            also each run's command, commit, data hash
  mltrain report runs --html report.html                one page to compare them in a browser"""


def parser() -> argparse.ArgumentParser:
    """The options of ``mltrain report`` (also what tab completion offers)."""
    p = argparse.ArgumentParser(
        prog="mltrain report", description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("dirs", nargs="*", default=["runs"], help="directories to search (default: runs)")
    p.add_argument("--sort", metavar="COLUMN", help="rank by this column instead of the objective: "
                   "val_accuracy, test_loss, wall_time_s, ... (in its own direction)")  # fmt: skip
    p.add_argument("--group-by", metavar="KEY,...", default="", help="merge runs with the same values of "
                   "these keys (optimizer, lr or optimizer.lr, seed) into one row: mean ± std")  # fmt: skip
    p.add_argument("--top", metavar="N", type=int, default=5, help="runs per section in report.png (5)")
    p.add_argument("--long", action="store_true", help="also print each run's reproducibility record: "
                   "command line, git commit, data file and SHA-256, Python and versions")  # fmt: skip
    p.add_argument("--html", metavar="FILE", help="also write one self-contained HTML page comparing the "
                   "runs (needs the html extra: pip install 'mltrain[html]')")  # fmt: skip
    return p


def build_sections(
    dirs: list[Path], sort: str | None = None, group_by: list[str] | None = None
) -> list[Section]:
    """The ranked sections of the runs under ``dirs``.

    Raises:
        ConfigError: a directory that does not exist, no runs found, or an unknown sort or group key.
    """
    from mltrain.errors import ConfigError
    from mltrain.reporting import table as tables
    from mltrain.reporting.records import find_runs

    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"no such directory: {', '.join(missing)}")
    paths = find_runs([Path(d) for d in dirs])
    if not paths:
        where = ", ".join(map(str, dirs))
        raise ConfigError(f"no runs (summary.json) under {where}; train one with mltrain fit")
    records = [r for r in (_read_or_skip(p, Path(dirs[0])) for p in paths) if r is not None]
    if not records:
        raise ConfigError(f"no readable runs under {', '.join(map(str, dirs))}: every summary is damaged")
    sections = tables.split(records)
    if group_by:
        keys = tables.group_keys(sections, group_by)
        sections = [tables.group(s, keys) for s in sections]
    tables.check_sort(sections, sort)
    return [tables.rank(s, sort) for s in sections]


def _read_or_skip(path: Path, root: Path) -> RunRecord | None:
    """One run read back; ``None``, with one warning line naming the file, when a summary is damaged."""
    from mltrain.files import DamagedFile
    from mltrain.reporting.records import read_run

    try:
        return read_run(path, root)
    except DamagedFile as e:
        log.warning("warning: %s; run %s skipped", e, path)
        return None


def write_report(sections: list[Section], root: Path, top: int = 5) -> list[Path]:
    """Save ``report.csv`` and, when runs have histories, ``report.png`` in ``root``; return the paths."""
    from mltrain.files import atomic_write_text
    from mltrain.reporting.table import full_table

    root = Path(root)
    written = [root / "report.csv"]
    atomic_write_text(written[0], full_table(sections).to_csv(index=False))
    panels = [panel(s, top) for s in sections if s.groups is None]
    panels = [p for p in panels if p[3]]
    if panels:
        from mltrain.reporting.plots import report_curves

        written.append(root / "report.png")
        report_curves(panels, written[1])
    return written


def panel(section: Section, top: int) -> tuple[str, str, str, list[Curve]]:
    """``(title, y label, legend title, curves)`` of a section's ``top`` best runs."""
    from mltrain.reporting.plots import axis_label
    from mltrain.reporting.records import REGRESSION
    from mltrain.reporting.table import differing
    from mltrain.reporting.view import condensed, short_name
    from mltrain.rundir import RunDir

    keys = differing(section.runs)
    found = []
    for run in section.runs[:top]:
        history = _history(run)
        if history is not None and section.monitor in history.columns and len(history):
            label = condensed(run, keys) or short_name(run)
            folds = sum(f.history_csv.is_file() for f in RunDir(run.path).folds())
            found.append((run, f"{label} (mean of {folds} folds)" if folds else label, history))
    labels = [label for _, label, _ in found]
    curves = [(f"{label} ({short_name(run)})" if labels.count(label) > 1 else label,
               history["epoch"].astype(int).tolist(), history[section.monitor].tolist())
              for run, label, history in found]  # fmt: skip
    ylabel = axis_label(section.monitor, section.loss, section.task == REGRESSION)
    legend = "runs: the overrides that differ" if keys else "runs"
    return section.title, ylabel, legend, curves


def _history(run: RunRecord) -> Any:
    """A run's ``history.csv``; a k-fold parent's: the folds' mean per epoch (``None`` without one)."""
    import pandas as pd

    from mltrain.rundir import RunDir

    files = RunDir(run.path)
    paths = files.history_files()
    if not paths:
        return None
    if paths == [files.history_csv]:
        return pd.read_csv(files.history_csv)
    frames = pd.concat([pd.read_csv(f) for f in paths])  # a k-fold parent's folds
    return frames.drop(columns=["fold"], errors="ignore").groupby("epoch", as_index=False).mean()


def run_from_args(args: list[str], width: int = 100) -> list[str]:
    """Build and save the report; return the lines to print, none longer than ``width``.

    Raises:
        ConfigError: a missing directory, no runs, an unknown ``--sort`` or ``--group-by`` key.
    """
    from mltrain.reporting.view import fold, section_view

    options = parser().parse_args(args)
    if options.html:
        from mltrain.reporting.html_report import check_destination, plotly_js

        plotly_js()  # without the extra: one line naming it, before any work
        check_destination(Path(options.html))
    group_by = [k.strip() for k in options.group_by.split(",") if k.strip()]
    dirs = [Path(d) for d in options.dirs]
    sections = build_sections(dirs, options.sort, group_by)
    written = write_report(sections, dirs[0], options.top)
    if options.html:
        from mltrain.reporting.html_report import write_html

        ungrouped = build_sections(dirs, options.sort) if group_by else sections  # the page lists runs
        written.append(write_html(ungrouped, Path(options.html)))
    lines = []
    for n, section in enumerate(sections):
        lines += ([""] if n else []) + section_view(section).lines(width)
    if options.long:
        lines += [part for line in long_view(sections) for part in _indented(line, width)]
    for best in filter(None, (best_trial_line(Path(d)) for d in options.dirs)):
        lines += fold(best, width)  # an Optuna sweep's best trial
    return lines + fold("wrote " + ", ".join(map(str, written)), width)


def _indented(line: str, width: int) -> list[str]:
    """A ``--long`` line folded to ``width``, its continuation lines indented under the value."""
    from mltrain.reporting.view import fold

    if not line.startswith("  "):
        return fold(line, width)
    first, *rest = fold(line.strip(), width - 11)
    return [f"  {first}", *(f"{' ' * 11}{part}" for part in rest)]


def long_view(sections: list[Section]) -> list[str]:
    """``--long``: each run's reproducibility record, in the tables' order."""
    from mltrain.reporting.provenance import long_lines

    lines = ["", "reproducibility record (summary.json's provenance):"]
    for section in sections:
        for run in section.runs:
            lines += long_lines(run)
    return lines


def best_trial_line(sweep_dir: Path) -> str:
    """``best trial 3 of study lr (2 complete, 4 pruned): value 0.41 (optimizer.lr=0.01) -> <run dir>``
    for an Optuna sweep's directory (its ``optimization_results.yaml``); ``""`` for any other."""
    from mltrain.rundir import RunDir

    results = RunDir(sweep_dir).read_sweep_results() or {}
    if "best_trial" not in results:
        return ""
    counts = results.get("trials") if isinstance(results.get("trials"), dict) else {}
    done = ", ".join(f"{n} {state}" for state, n in counts.items() if n and state != "running")
    params = results.get("best_params") if isinstance(results.get("best_params"), dict) else {}
    values = " ".join(f"{k}={v}" for k, v in params.items())
    run_dir = Path(str(results.get("best_run_dir")))
    if run_dir.is_absolute() and run_dir.parent == sweep_dir.resolve():
        run_dir = sweep_dir / run_dir.name  # as the user named the sweep: pastes into the next command
    return (f"best trial {results['best_trial']} of study {results.get('study_name')} ({done}): value "
            f"{results.get('best_value')} ({values}) -> {run_dir}")  # fmt: skip
