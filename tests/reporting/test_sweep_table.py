"""``sweep.csv`` rebuilt from job directories, and the files a failed job leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mltrain.reporting.sweep_table import record_failure, write_sweep_table


def job(sweep: Path, name: str, summary: dict | None, overrides: tuple[str, ...] = ("seed=1",)) -> Path:
    path = sweep / name
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps(summary))
    return path


def test_rows_are_in_job_order_with_running_jobs_and_kfold_parents(tmp_path: Path) -> None:
    job(tmp_path, "10_seed=1", {"status": "completed", "objective": 0.5, "best_epoch": 3})
    job(tmp_path, "2_seed=2", None)  # started, no summary yet
    (job(tmp_path, "3_cv", None) / "cv_summary.json").write_text("{}")
    (tmp_path / "multirun.yaml").write_text("")
    write_sweep_table(tmp_path)
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert list(table.job) == [2, 3, 10]
    assert list(table.status) == ["running", "completed", "completed"]
    assert table.overrides[0] == "seed=1" and table.objective[2] == 0.5


def test_a_failure_keeps_the_epochs_already_recorded(tmp_path: Path) -> None:
    run = job(tmp_path, "0_a", {"status": "running", "epochs_completed": 4, "best_epoch": 2})
    try:
        raise RuntimeError("out of memory")
    except RuntimeError as e:
        assert record_failure(run, e) == "out of memory"
    summary = json.loads((run / "summary.json").read_text())
    assert summary == {"status": "failed", "message": "out of memory", "epochs_completed": 4, "best_epoch": 2}
    error = (run / "error.txt").read_text()
    assert error.startswith("out of memory\n") and "Traceback" in error
    fresh = record_failure(tmp_path / "1_b", ValueError())
    assert fresh == "ValueError"
    assert json.loads((tmp_path / "1_b" / "summary.json").read_text())["status"] == "failed"
