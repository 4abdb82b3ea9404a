"""The sweep-level table of a multirun, and what a failed sweep job leaves in its directory.

``mltrain fit -m optimizer=adam,sgd`` writes ``runs/multirun/<timestamp>/sweep.csv``: one row per job
(``job, dir, overrides, status, objective, best_epoch, epochs_completed, wall_time_s, message``), rebuilt
from the jobs' ``summary.json`` files each time a job ends, so it is current even while jobs still run and
correct whatever launcher ran them in whatever order.
"""

from __future__ import annotations

import csv
import io
import traceback
from pathlib import Path
from typing import Any

from mltrain.files import atomic_write_json, atomic_write_text
from mltrain.rundir import RunDir
from mltrain.status import COMPLETED, FAILED, RUNNING

SWEEP_COLUMNS = (
    "job", "dir", "overrides", "status", "objective", "best_epoch", "epochs_completed", "wall_time_s",
    "message",
)  # fmt: skip


def job_row(job_dir: Path) -> dict[str, Any]:
    """One ``sweep.csv`` row from a job directory (``status`` ``running`` until its summary exists).

    A k-fold job without a ``summary.json`` of its own counts as completed once ``cv_summary.json`` exists.
    """
    job = RunDir(job_dir)
    summary = job.read_summary() or {}
    if not summary and job.is_kfold_parent:
        summary = {"status": COMPLETED}
    number = job_dir.name.split("_", 1)[0]
    return {
        "job": int(number) if number.isdigit() else None,
        "dir": job_dir.name,
        "overrides": " ".join(job.read_overrides()),
        "status": summary.get("status", RUNNING),
        "objective": summary.get("objective"),
        "best_epoch": summary.get("best_epoch"),
        "epochs_completed": summary.get("epochs_completed"),
        "wall_time_s": summary.get("wall_time_s"),
        "message": summary.get("message") or "",
    }


def sweep_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """Rows of every job directory (one holding ``.hydra/``) directly under ``sweep_dir``, by job number."""
    jobs = [d for d in Path(sweep_dir).iterdir() if RunDir(d).hydra_dir.is_dir()]
    rows = [job_row(d) for d in jobs]
    return sorted(rows, key=lambda r: (r["job"] is None, r["job"] or 0, r["dir"]))


def write_sweep_table(sweep_dir: Path) -> list[dict[str, Any]]:
    """Rewrite ``<sweep_dir>/sweep.csv`` atomically from the jobs' summaries; return its rows."""
    rows = sweep_rows(sweep_dir)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SWEEP_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(RunDir(sweep_dir).sweep_table, buffer.getvalue())
    return rows


def record_failure(out_dir: Path, error: BaseException) -> str:
    """Write ``error.txt`` (message and traceback) and mark ``summary.json`` ``failed``; return the message.

    A summary the run already wrote keeps its epochs; a job refused before training gets a minimal one.
    """
    run = RunDir(out_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    message = str(error).strip() or type(error).__name__
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    run.error.write_text(f"{message}\n\n{trace}")
    refused = {"epochs_completed": 0, "best_epoch": None, "objective": None}  # no summary written yet
    summary = run.read_summary() or refused
    summary.update(status=FAILED, message=message)
    atomic_write_json(run.summary, summary)
    return message
