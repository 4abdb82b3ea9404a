"""``mltrain report``: runs found under directories, ranked, grouped, and written as CSV and PNG.

Run directories are written by hand here (summary, overrides, history), so the expected ranking and the
mean and standard deviation of repeated seeds are known without training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mltrain.commands.report import build_report, find_runs, formatted, headers, write_report
from mltrain.errors import ConfigError
from tests.test_cli import mltrain


def fake_run(path: Path, overrides: list[str], val_accuracy: float | None, status: str = "completed") -> Path:
    """A run directory as ``mltrain fit`` leaves it, with ``objective=val_accuracy``."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    acc = val_accuracy
    best = None if acc is None else {"epoch": 2, "val_loss": 1 - acc, "val_accuracy": acc}
    summary = {"status": status, "epochs_completed": 2, "best_epoch": best and 2, "best": best, "mode": "max",
               "monitor": "val_accuracy", "objective": val_accuracy, "wall_time_s": 1.5}  # fmt: skip
    (path / "summary.json").write_text(json.dumps(summary))
    if best:
        history = {"epoch": [1, 2], "val_accuracy": [val_accuracy / 2, val_accuracy]}
        pd.DataFrame(history).to_csv(path / "history.csv", index=False)
    return path


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Two optimizers x two seeds, plus a diverged job; the dataset is the same everywhere."""
    accuracy = {("adam", 0): 0.9, ("adam", 1): 0.8, ("sgd", 0): 0.6, ("sgd", 1): 0.7}
    for n, ((opt, seed), acc) in enumerate(accuracy.items()):
        fake_run(tmp_path / f"{n}_job", ["dataset=iris", f"optimizer={opt}", f"seed={seed}"], acc)
    fake_run(tmp_path / "4_job", ["dataset=iris", "optimizer=sgd", "seed=2"], None, status="diverged")
    return tmp_path


def test_runs_are_ranked_best_first_with_the_overrides_that_differ(sweep: Path) -> None:
    table = build_report([sweep])
    assert list(table.run) == ["0_job", "1_job", "3_job", "2_job", "4_job"]  # diverged (no objective) last
    assert "dataset" not in table.columns and list(table.seed) == ["0", "1", "1", "0", "2"]
    assert list(table.status)[-1] == "diverged"
    ascending = build_report([sweep], sort="val_loss")  # a loss ranks smallest first
    assert list(ascending.run[:2]) == ["0_job", "1_job"]


def test_group_by_averages_repeated_seeds(sweep: Path) -> None:
    table = build_report([sweep], group_by=["optimizer"])
    assert list(table.optimizer) == ["adam", "sgd"] and list(table.runs) == [2, 3]
    assert table.objective_mean[0] == pytest.approx(0.85)
    assert table.objective_std[0] == pytest.approx(pd.Series([0.9, 0.8]).std())
    assert "val_accuracy (mean ± std)" in headers(table)
    assert formatted(table)[0][headers(table).index("objective (mean ± std)")] == "0.85 ± 0.07071"


def test_kfold_parent_is_one_run_and_its_folds_are_not(tmp_path: Path) -> None:
    parent = tmp_path / "cv"
    for i in range(3):
        fake_run(parent / f"fold_{i}", [], 0.5)
    (parent / ".hydra").mkdir()
    (parent / "cv_summary.json").write_text(json.dumps({"val_accuracy": {"mean": 0.75, "std": 0.1}}))
    fake_run(tmp_path / "single", [], 0.7)
    assert find_runs([tmp_path]) == [parent, tmp_path / "single"]
    table = build_report([tmp_path])
    assert list(table.run) == ["cv", "single"] and table.val_accuracy[0] == 0.75


def test_report_files_and_errors(sweep: Path, tmp_path: Path) -> None:
    written = write_report(build_report([sweep]), sweep)
    assert [p.name for p in written] == ["report.csv", "report.png"]
    assert len(pd.read_csv(sweep / "report.csv")) == 5
    with pytest.raises(ConfigError, match="no runs"):
        build_report([sweep / "4_job" / ".hydra"])
    with pytest.raises(ConfigError, match="--group-by optimiser: not an override"):
        build_report([sweep], group_by=["optimiser"])


def test_report_command_prints_the_table_and_exits_2_without_runs(sweep: Path) -> None:
    result = mltrain("report", str(sweep), "--sort", "val_accuracy", cwd=sweep)
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("0_job") < result.stdout.index("2_job") and "report.csv" in result.stdout
    empty = mltrain("report", cwd=sweep / "4_job" / ".hydra")
    assert empty.returncode == 2 and empty.stderr.startswith("error: no such directory: runs")


def test_kfold_row_shows_mean_and_std_of_what_validation_kfold_writes(tmp_path: Path) -> None:
    parent = tmp_path / "runs" / "fit" / "cv"
    (parent / "fold_1").mkdir(parents=True)
    (parent / ".hydra").mkdir()
    (parent / ".hydra" / "overrides.yaml").write_text("- validation=kfold\n")
    cv = {
        "status": "completed", "k": 3, "monitor": "val_accuracy", "objective": 0.88,
        "metrics": {
            "best_epoch": {"mean": 4.0, "std": 1.0},
            "best_val_accuracy": {"mean": 0.88, "std": 0.04},
            "best_val_loss": {"mean": 0.5, "std": 0.1},
            "final_val_accuracy": {"mean": 0.8, "std": 0.05},
        },
    }  # fmt: skip
    (parent / "cv_summary.json").write_text(json.dumps(cv))
    (parent / "fold_1" / "summary.json").write_text(json.dumps({"monitor": "val_accuracy", "mode": "max"}))
    table = build_report([tmp_path / "runs"])
    assert len(table) == 1
    row = table.iloc[0]
    assert row["objective"] == 0.88 and row["val_accuracy"] == 0.88
    cells = dict(zip(headers(table), formatted(table)[0], strict=True))
    assert cells["val_accuracy"] == "0.88 ± 0.04" and cells["val_loss"] == "0.5 ± 0.1"
    assert "final_val_accuracy" not in table.columns
