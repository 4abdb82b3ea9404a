"""The path a user walks, as the README tells it: in a fresh directory, mltrain naming its own run
directories, each command run on the directory the one before printed.

    python -m pytest tests/test_flow.py -q
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from tests.test_cli import mltrain, write_penguins


def printed_run_dir(output: str) -> str:
    """The run directory of the last log line: ``[...][INFO] completed: best epoch ... -> <dir>``."""
    found = re.findall(r" -> (.+)$", output, flags=re.M)
    assert found, output
    return found[-1].strip()


def test_fit_evaluate_predict_resume_report_on_the_directory_fit_printed(tmp_path: Path) -> None:
    write_penguins(tmp_path / "penguins.csv")
    data = ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species", "model.hidden=[16]"]
    fitted = mltrain("fit", *data, "trainer.epochs=2", "metric=[accuracy,f1]", cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    run = printed_run_dir(fitted.stdout)
    assert Path(run).parent == tmp_path / "runs" / "fit"
    assert "=" not in Path(run).name and "," not in Path(run).name

    evaluated = mltrain("evaluate", f"run={run}", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    predicted = mltrain("predict", f"run={run}", "input=penguins.csv", "output=preds.csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert len(pd.read_csv(tmp_path / "preds.csv")) == 300

    resumed = mltrain(
        "fit", *data, "trainer.epochs=4", "metric=[accuracy,f1]", f"resume='{run}'", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert printed_run_dir(resumed.stdout) == run
    summary = json.loads((Path(run) / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert len(pd.read_csv(Path(run) / "history.csv")) == 4
    assert not (Path(run) / ".lock").exists()
    fit_log = (Path(run) / "fit.log").read_text()
    assert "epoch 4/4" in fit_log  # the per-epoch lines reach the run's log file too

    reported = mltrain("report", "runs", cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert Path(run).name[:19] in reported.stdout  # the timestamp part of the run's name


def test_a_regression_fit_without_metric_gets_regression_metrics(tmp_path: Path) -> None:
    fitted = mltrain("fit", "loss=mse", "dataset=diabetes", "debug=smoke", cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    run = Path(printed_run_dir(fitted.stdout))
    assert list(pd.read_csv(run / "history.csv").columns) == [
        "epoch", "loss", "mae", "r2", "val_loss", "val_mae", "val_r2", "lr", "time_s",
    ]  # fmt: skip
    explicit = mltrain(
        "fit", "loss=mse", "dataset=diabetes", "metric=[accuracy]", "debug=smoke", cwd=tmp_path
    )
    assert explicit.returncode == 2  # a metric the user chose is checked, not replaced
    assert explicit.stderr.strip() == (
        "error: metric=accuracy needs class labels, but the target is continuous (regression); "
        "use metric=[mae,mse,r2,rmse]"
    )
