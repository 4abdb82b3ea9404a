"""Multirun sweeps through the installed command: job directories, ``sweep.csv``, failures and exit status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mltrain


def test_grid_sweep_records_every_job_and_survives_divergence_and_errors(tmp_path: Path) -> None:
    result = mltrain(
        "fit", "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "trainer.epochs=2", "objective=val_accuracy",
        "optimizer=adam,sgd", "optimizer.lr=1e-2,1e12", "dataset=iris,csv", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # some jobs failed: the sweep says so, after running all
    assert "4 sweep job(s) failed" in result.stderr and "Traceback" not in result.stderr
    sweep = tmp_path / "sweep"
    table = pd.read_csv(sweep / "sweep.csv")
    assert list(table.job) == list(range(8))
    assert len(set(table.dir)) == 8 and all((sweep / d / "summary.json").is_file() for d in table.dir)
    by_status = table.groupby("status").job.apply(list).to_dict()
    assert by_status["failed"] == [1, 3, 5, 7]  # dataset=csv without its required keys
    assert {2} <= set(by_status.get("diverged", []))  # adam at lr=1e12
    assert (sweep / table.dir[1] / "error.txt").read_text().startswith("2 problems in the config")
    job = sweep / table.dir[0]
    summary = json.loads((job / "summary.json").read_text())
    history = pd.read_csv(job / "history.csv")
    assert summary["mode"] == "max" and summary["monitor"] == "val_accuracy"
    assert summary["objective"] == history.val_accuracy.max() == table.objective[0]
    expected = "trainer.epochs=2 objective=val_accuracy optimizer=adam optimizer.lr=0.01 dataset=iris"
    assert table.overrides[0] == expected


@pytest.mark.slow  # 6 s of subprocess; the grid sweep walks the -m path in the default suite
def test_optuna_random_search_maximises_an_accuracy_objective(tmp_path: Path) -> None:
    result = mltrain(
        "fit", "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=3", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "debug=smoke", "dataset=iris", "objective=val_accuracy",
        "optimizer.lr=tag(log, interval(1e-4, 1e-1))", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "sweep" / "sweep.csv")
    assert len(table) == 3 and set(table.status) == {"completed"}
    results = (tmp_path / "sweep" / "optimization_results.yaml").read_text()
    assert f"best_value: {table.objective.max()}" in results  # direction maximize, from objective_mode=auto


@pytest.mark.slow
def test_joblib_jobs_share_one_sweep_dir_and_divide_the_threads(tmp_path: Path) -> None:
    result = mltrain(
        "fit", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "debug=smoke", "dataset=iris",
        "optimizer=adam,sgd", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (sweep,) = (tmp_path / "runs" / "multirun").iterdir()  # workers resolved the same timestamped dir
    table = pd.read_csv(sweep / "sweep.csv")
    assert list(table.status) == ["completed", "completed"]
    threads = max(1, (os.cpu_count() or 1) // 2)
    for job in table.dir:
        assert f"num_threads: {threads}" in (sweep / job / "config.yaml").read_text()


@pytest.mark.slow
def test_submitit_local_launcher_runs_each_job(tmp_path: Path) -> None:
    result = mltrain(
        "fit", "-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path / 'sweep'}", "debug=smoke",
        "dataset=iris", "optimizer=adam,sgd", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "sweep" / "sweep.csv")
    assert list(table.status) == ["completed", "completed"]
