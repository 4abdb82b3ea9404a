"""What the end of a command means for the shell: the one table of exit statuses, and the message and
status of each way a command, a rank or a sweep can end.

    outcome = of_error(error, out_dir)      # None: a bug (Python prints the traceback, exit 1)
    outcome = of_summary(summary, out_dir)  # None: the run ended well (exit 0)
    status = of_rank(result)                # a rank's ``run_rank`` result (launch/ranks.py)

``cli.py`` prints an outcome's message as one red line and exits with its status; ``mltrain.fit`` raises
the error itself (a ``UserError`` carries the same message). This module imports only the bottom layer.
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltrain.errors import DistributedError, UserError
from mltrain.files import WriteError
from mltrain.rundir import RunDir
from mltrain.status import DIVERGED

EXIT_OK = 0  # the command did its work
EXIT_FAILED = 1  # a bug (with its traceback), a failed or killed rank, a failed sweep job
EXIT_USER_ERROR = 2  # bad input: one message naming the key, the value and the choices; no traceback
EXIT_ALERT = 3  # a run that diverged, a metric dropped past max_drop, drift past max_drift
EXIT_IO = 74  # sysexits' EX_IOERR: a file could not be written
EXIT_SIGINT = 128 + signal.SIGINT  # 130: Ctrl-C
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143: SIGTERM (a scheduler's or torchrun's stop)
FULL_DISK = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)  # a failed write even outside mltrain's own writes


@dataclass(frozen=True)
class Outcome:
    """How a command ended, for the shell: the line to print (``error: <message>``) and the exit status."""

    message: str
    status: int


def interrupted_status(signum: int) -> int:
    """The exit status of a process stopped by ``signum``: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + int(signum)


def of_error(
    error: BaseException, out_dir: Path | None = None, signum: int = signal.SIGINT, sweep: bool = False
) -> Outcome | None:
    """The outcome of a command that raised ``error``; ``None`` for a bug.

    Args:
        out_dir: the run (or, with ``sweep``, the sweep job's) directory, named in the message when known.
        signum: the signal that raised a ``KeyboardInterrupt`` (the command line's handler records it).
        sweep: the error stopped a multirun.
    """
    if isinstance(error, KeyboardInterrupt):
        status = interrupted_status(signum)
        if out_dir is None:
            return Outcome("interrupted", status)
        if sweep:
            saved = f"finished jobs and epochs are saved in {out_dir.parent}"
            return Outcome(f"sweep interrupted; {saved}", status)
        return Outcome(f"interrupted; the epochs before it are saved in {out_dir}", status)
    if isinstance(error, UserError):
        return Outcome(str(error), EXIT_USER_ERROR)
    if isinstance(error, DistributedError):  # a rank failed or died: the message names it
        return Outcome(f"{error}; run directory {out_dir}" if out_dir else str(error), EXIT_FAILED)
    written = write_failure(error)
    return Outcome(written, EXIT_IO) if written is not None else None


def write_failure(error: BaseException | None) -> str | None:
    """``cannot write <file>: <reason>`` for a failed write (also one raised inside Hydra), else ``None``.

    A write fails with mltrain's ``WriteError`` (naming the file), or inside Hydra with a full or
    read-only disk; any other ``OSError`` (a user's factory reading a missing file, say) is not one.
    """
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    full = error is not None and error.errno in FULL_DISK
    if not (isinstance(error, WriteError) or full) or not error.filename:
        return None
    reason = f"cannot write {error.filename}: {error.strerror or error}"
    return reason if error.errno == errno.ENOENT else f"{reason}; the files written before it are intact"


def of_summary(summary: Mapping[str, Any], out_dir: Path) -> Outcome | None:
    """The outcome of a command that returned ``summary``: an alert (exit 3), or ``None`` when all is well.

    ``alert``: monitor's drift past ``max_drift`` (or a metric drop), the message says which; ``failed``:
    evaluate's metrics that dropped by more than ``max_drop``; ``status: diverged``: a fit's NaN/Inf loss.
    """
    if summary.get("alert"):
        return Outcome(summary["alert"], EXIT_ALERT)
    if summary.get("failed"):
        dropped = f"{', '.join(summary['failed'])} dropped by more than max_drop={summary['max_drop']}"
        return Outcome(f"{dropped}; see {RunDir(out_dir).evaluation}", EXIT_ALERT)
    if summary.get("status") == DIVERGED:
        return Outcome(f"run diverged: {summary['message']}; history so far is in {out_dir}", EXIT_ALERT)
    return None


def of_sweep(failed_jobs: list[str]) -> Outcome | None:
    """After a multirun: status 1 when any job failed (each job's ``error.txt`` says why)."""
    if not failed_jobs:
        return None
    jobs = ", ".join(failed_jobs)
    return Outcome(f"{len(failed_jobs)} sweep job(s) failed: {jobs}; see error.txt in each", EXIT_FAILED)


def of_rank(result: Mapping[str, Any]) -> int:
    """The exit status of a rank whose part ended with ``result`` (``launch.ranks.run_rank``'s)."""
    if "user_error" in result:
        return EXIT_USER_ERROR
    if "interrupted" in result:
        return interrupted_status(result["interrupted"])
    return EXIT_FAILED if "error" in result else EXIT_OK
