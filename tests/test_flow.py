"""The path a user walks, as the README tells it: in a fresh directory, mltrain naming its own run
directories, each command run on the directory the one before printed.

    python -m pytest tests/test_flow.py -q
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mltrain, write_penguins


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

    # the run's own overrides come back with it: only what changes is typed
    resumed = mltrain("fit", f"resume='{run}'", "trainer.epochs=4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert printed_run_dir(resumed.stdout) == run
    summary = json.loads((Path(run) / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert summary["data"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"] and len(summary["resumed_at"]) == 1
    assert len(pd.read_csv(Path(run) / "history.csv")) == 4
    assert not (Path(run) / ".lock").exists()
    fit_log = (Path(run) / "fit.log").read_text()
    assert "epoch 4/4" in fit_log  # the per-epoch lines reach the run's log file too

    reported = mltrain("report", "runs", cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert Path(run).name[:19] in reported.stdout  # the timestamp part of the run's name


def test_a_regression_fit_without_metric_gets_regression_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process
) -> None:
    fitted = mltrain("fit", "loss=mse", "dataset=diabetes", "debug=smoke", cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    run = Path(printed_run_dir(fitted.stdout))
    assert list(pd.read_csv(run / "history.csv").columns) == [
        "epoch", "loss", "mae", "r2", "val_loss", "val_mae", "val_r2", "lr", "time_s",
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    status, stderr = in_process(
        ["fit", "loss=mse", "dataset=diabetes", "metric=[accuracy]", "debug=smoke"], tmp_path
    )
    assert status == 2  # a metric the user chose is checked, not replaced
    assert stderr.strip() == (
        "error: metric=accuracy needs class labels, but the target is continuous (regression); "
        "use metric=[mae,mse,r2,rmse]"
    )


def test_early_stopping_tells_one_story_in_console_summary_and_diagnosis(tmp_path: Path) -> None:
    patience = ["early_stopping.patience=2", "early_stopping.monitor=val_accuracy"]
    stopped = mltrain("fit", "dataset=iris", "trainer.epochs=60", "optimizer.lr=0.05", "model.hidden=[8]",
                      *patience, cwd=tmp_path)  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    run = Path(printed_run_dir(stopped.stdout))
    summary = json.loads((run / "summary.json").read_text())
    history = pd.read_csv(run / "history.csv")
    assert summary["status"] == "early_stopped" and summary["monitor"] == "val_accuracy"
    best = int(history.loc[history.val_accuracy.idxmax(), "epoch"])  # the first epoch of the highest value
    assert summary["best_epoch"] == best
    why = f"val_accuracy did not improve for 2 epochs; best {history.val_accuracy.max():.6g} at epoch {best}"
    assert summary["message"] == why
    diagnosis = summary["diagnosis"]  # overfitting, when the curves show it, says more than the stop
    assert diagnosis["verdict"] in ("early_stopped", "overfitting")
    if diagnosis["verdict"] == "early_stopped":
        assert diagnosis["message"] == f"stopped early: {why}"
    assert f"early_stopped ({why}): best epoch {best} (by val_accuracy)" in stopped.stdout


def test_a_live_runs_directory_is_refused_before_hydra_writes_there(tmp_path: Path) -> None:
    import fcntl

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- dataset=iris\n")
    with open(run / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        refused = mltrain("fit", "debug=smoke", f"hydra.run.dir={run}", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"error: run directory {run} is in use by a running mltrain process (pid 4242); "
        "wait for it to finish or stop it first"
    )
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- dataset=iris\n"


def test_an_unwritable_run_directory_is_one_line_and_exit_74(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    refused = mltrain("fit", "debug=smoke", "hydra.run.dir=a_file/run", cwd=tmp_path)
    assert refused.returncode == 74
    assert refused.stderr.strip() == (
        "error: cannot write hydra.run.dir=a_file/run: Not a directory; "
        "the files written before it are intact"
    )


def test_ctrl_c_while_starting_up_is_one_line_and_exit_130(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    started = subprocess.Popen([sys.executable, "-m", "mltrain", "fit", "debug=smoke"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    # Wait until the process is importing torch (its library mapped: mltrain's main() is running), not a
    # fixed time: on a loaded machine Python itself may not have started mltrain after 0.3 s, and a Ctrl-C
    # that early is the interpreter's, not mltrain's.
    maps, deadline = Path(f"/proc/{started.pid}/maps"), time.monotonic() + 60
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    started.send_signal(signal.SIGINT)
    _, err = started.communicate(timeout=120)
    assert started.returncode == 130
    assert err.strip().startswith("error: interrupted") and "Traceback" not in err


@pytest.mark.slow  # five commands with TabM: a minute or two; tests/config/test_preset.py is its fast twin
def test_preset_tabular_fit_predict_export_on_the_directory_fit_printed(tmp_path: Path) -> None:
    """docs/tabular.md's walk: ``preset=tabular`` on a CSV, then predict, export, evaluate and monitor the
    printed run (the model made small, as a user may; every other key the preset's)."""
    pytest.importorskip("tabm")
    write_penguins(tmp_path / "penguins.csv", missing=True)
    data = ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species", "dataset.missing=impute"]
    small = ["trainer.epochs=3", "model.k=4", "model.d_block=16"]
    fitted = mltrain("fit", "preset=tabular", *data, *small, cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    run = Path(printed_run_dir(fitted.stdout))
    config = (run / "config.yaml").read_text()
    assert "name: tabm" in config and "name: adamw" in config and "patience: 10" in config
    saved = json.loads((run / "preprocessing.json").read_text())
    assert saved["scaling"] == "quantile" and set(saved["quantiles"]) == set(saved["numeric"])

    predicted = mltrain("predict", f"run={run}", "input=penguins.csv", "output=preds.csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    preds = pd.read_csv(tmp_path / "preds.csv")
    probabilities = preds[["prob_Adelie", "prob_Chinstrap", "prob_Gentoo"]].to_numpy()
    assert len(preds) == 300 and abs(probabilities.sum(1) - 1).max() < 1e-5
    exported = mltrain("export", f"run={run}", "format=torchscript", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    evaluated = mltrain("evaluate", f"run={run}", "input=penguins.csv", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    monitored = mltrain("monitor", f"run={run}", "input=penguins.csv", cwd=tmp_path)
    assert monitored.returncode == 0, monitored.stderr
