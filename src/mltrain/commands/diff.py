"""``mltrain diff <run> <run>``: what differs between two runs, section by section.

    mltrain diff runs/fit/<a> runs/fit/<b>

Config keys, the data file (path, rows, size, SHA-256), the code's git commit and dirty flag, the command
line, Python, platform and library versions, and the final metrics (status, objective, best epoch and
the best epoch's metrics; a k-fold run's: the folds' means). Exit status 0 whether or not they differ;
2 for a directory that is not a run or a damaged summary (one line naming it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mltrain.reporting.records import RunRecord

DESCRIPTION = """\
What differs between two runs: config keys, data (file, rows, SHA-256), code (git commit, dirty),
command line, Python and library versions, final metrics. Sections with nothing different say 'same'."""


def parser() -> argparse.ArgumentParser:
    """The arguments of ``mltrain diff`` (also what tab completion offers)."""
    p = argparse.ArgumentParser(prog="mltrain diff", description=DESCRIPTION)
    p.add_argument("runs", nargs=2, metavar="RUN", help="two run directories (what mltrain fit printed)")
    return p


def read_one(path: Path) -> RunRecord:
    """A run directory read back for the comparison.

    Raises:
        ConfigError: not a directory, or not a run (no ``summary.json`` / ``cv_summary.json``), or a
            damaged summary (naming the file).
    """
    from mltrain.errors import ConfigError
    from mltrain.files import DamagedFile
    from mltrain.reporting.records import read_run
    from mltrain.rundir import RunDir

    if not path.is_dir():
        raise ConfigError(f"mltrain diff: {path}: no such run directory")
    files = RunDir(path)
    if not (files.summary.is_file() or files.cv_summary.is_file()):
        raise ConfigError(f"mltrain diff: {path} is not a run directory (it has no summary.json)")
    try:
        return read_run(path, path.parent)
    except DamagedFile as e:
        raise ConfigError(f"mltrain diff: {e}") from None


def run_from_args(args: list[str], width: int = 100) -> list[str]:
    """The lines ``mltrain diff`` prints.

    Raises:
        ConfigError: a run directory that is missing, not a run, or damaged.
    """
    from mltrain.reporting.diff import diff_lines

    options = parser().parse_args(args)
    a, b = (read_one(Path(p)) for p in options.runs)
    return diff_lines(a, b, width)
