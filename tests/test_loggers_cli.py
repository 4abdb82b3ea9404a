"""Loggers through the installed command, as the README walks a user through them.

    python -m pytest tests/test_loggers_cli.py -q -m slow

In a fresh directory, with mltrain naming the run directories: ``mltrain fit logger=[tensorboard,mlflow]``,
then a sweep and a k-fold run logged to MLflow; each run's numbers are read back from the default local
store (``runs/mlflow.db``) and from the event files, and compared with the run's own ``history.csv`` and
``cv_summary.json``. Bad input exits with status 2 and one line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import mltrain

pytestmark = pytest.mark.slow
SMALL = ["dataset=iris", "model.hidden=[8]", "trainer.epochs=3", "trainer.batch_size=16"]


def printed_dir(result: Any, cwd: Path) -> Path:
    """The run directory the last log line names: ``... -> runs/fit/<dir>``."""
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    return cwd / re.search(r"-> (\S.*)$", [line for line in lines if " -> " in line][-1]).group(1)


def store(cwd: Path) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd / 'runs' / 'mlflow.db'}")
    return client, client.get_experiment_by_name("mltrain").experiment_id


def assert_metrics_equal_history(client: Any, run_id: str, run_dir: Path) -> None:
    history = pd.read_csv(run_dir / "history.csv")
    for column in history.columns.drop(["epoch", "fold"], errors="ignore"):
        logged = [(m.step, m.value) for m in client.get_metric_history(run_id, column)]
        assert logged == list(zip(history.epoch, history[column], strict=True)), column


def test_a_user_logs_a_run_a_sweep_and_a_kfold_run(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = printed_dir(mltrain("fit", *SMALL, "logger=[tensorboard,mlflow]", cwd=tmp_path), tmp_path)
    assert "logger" not in run_dir.name  # where a run is logged does not name it

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    val_loss = [e.value for e in events.Scalars("val_loss")]
    assert val_loss == list(pd.read_csv(run_dir / "history.csv").val_loss.astype("float32"))
    client, experiment = store(tmp_path)
    (run,) = client.search_runs([experiment])
    assert run.info.run_name == run_dir.name and run.data.tags["status"] == "completed"
    assert_metrics_equal_history(client, run.info.run_id, run_dir)

    sweep = mltrain("fit", "-m", *SMALL, "optimizer=adam,nadam", "logger=[mlflow]", cwd=tmp_path)
    job_dir = printed_dir(sweep, tmp_path)
    parent = client.search_runs([experiment], "tags.`mltrain.kind` = 'sweep'")[0]
    jobs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert parent.info.run_name == job_dir.parent.name and parent.info.status == "FINISHED"
    assert sorted(j.info.run_name for j in jobs) == sorted(d.name for d in job_dir.parent.glob("?_*"))
    for job in jobs:
        assert_metrics_equal_history(client, job.info.run_id, job_dir.parent / job.info.run_name)
    assert {j.data.params["optimizer.name"] for j in jobs} == {"adam", "nadam"}

    kfold_dir = printed_dir(mltrain("fit", *SMALL, "validation=kfold", "validation.k=3", "logger=[mlflow]",
                                    cwd=tmp_path), tmp_path)  # fmt: skip  # the last line names the parent
    kfold = client.search_runs([experiment], "tags.`mltrain.kind` = 'kfold'")[0]
    folds = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{kfold.info.run_id}'")
    assert sorted(f.info.run_name for f in folds) == ["fold_1", "fold_2", "fold_3"]
    for fold in folds:
        assert_metrics_equal_history(client, fold.info.run_id, kfold_dir / fold.info.run_name)
    cv = json.loads((kfold_dir / "cv_summary.json").read_text())
    assert kfold.data.metrics["best_val_accuracy_mean"] == cv["metrics"]["best_val_accuracy"]["mean"]
    assert kfold.data.metrics["best_val_accuracy_std"] == cv["metrics"]["best_val_accuracy"]["std"]
    assert kfold.info.status == "FINISHED" and kfold.data.tags["status"] == cv["status"]


def test_an_mlflow_server_that_does_not_answer_costs_one_warning(tmp_path: Path) -> None:
    result = mltrain("fit", *SMALL, "logger=[mlflow]", cwd=tmp_path,
                     env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})  # fmt: skip

    run_dir = printed_dir(result, tmp_path)
    output = result.stdout + result.stderr  # Hydra logs to stdout
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "logger mlflow failed to start" in warnings[0], output
    assert "Connection refused" in warnings[0]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["logger=[wandb]"], "error: logger=wandb is not a choice; valid: mlflow, tensorboard"),
        (["logger=[mlflow]", "logger.mlflow.http_retries=many"],
         "error: logger.mlflow.http_retries='many' must be an integer for logger=mlflow"),
    ],
)  # fmt: skip
def test_bad_logger_input_is_one_line_and_status_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = mltrain("fit", *args, cwd=tmp_path)

    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "runs" / "fit").exists() or not any((tmp_path / "runs" / "fit").iterdir())


def test_missing_tracker_package_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['mlflow'] = None; sys.argv = ['mltrain', 'fit', 'logger=[mlflow]']; "
            "from mltrain.cli import main; main()")  # fmt: skip

    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.strip() == (
        'error: logger=mlflow needs the mlflow package: pip install -e ".[mlflow]" (or pip install mlflow)'
    )
