"""Resuming, signals and crashes through the installed command (subprocesses, as users run it).

python -m pytest tests/test_cli_resume.py -q -m "slow or not slow"  # slow: 2-3 processes each
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mltrain

QUICK = ["dataset=iris", "model.hidden=[16]", "trainer.batch_size=16", "trainer.device=cpu"]
LONG = ["trainer.epochs=100000", "trainer.device=cpu", "model.hidden=[32]"]  # runs until killed


def start(run: Path, *args: str) -> subprocess.Popen:
    """``mltrain fit`` in the background, writing to ``run``."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mltrain", "fit", f"hydra.run.dir={run}", *args],
        cwd=run.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_epochs(run: Path, n: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until ``history.csv`` has ``n`` rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        path = run / "history.csv"
        if path.is_file() and len(path.read_text().splitlines()) > n:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {n} epochs in time; stderr: {process.stderr.read() if process.stderr else ''}")


@pytest.mark.slow
def test_resume_continues_the_run_in_its_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert mltrain("fit", f"hydra.run.dir={run}", *QUICK, "trainer.epochs=2", cwd=tmp_path).returncode == 0

    result = mltrain("fit", *QUICK, "trainer.epochs=3", f"resume={run}", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert list(pd.read_csv(run / "history.csv").epoch) == [1, 2, 3]
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert not (tmp_path / "runs").exists()


def test_resume_of_a_missing_run_exits_2(tmp_path: Path) -> None:
    missing = mltrain("fit", *QUICK, f"resume={tmp_path / 'nope'}", cwd=tmp_path)

    assert missing.returncode == 2 and "no such run directory" in missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_resume_with_a_changed_config_exits_2(tmp_path: Path) -> None:
    run = tmp_path / "run"
    mltrain("fit", f"hydra.run.dir={run}", *QUICK, "trainer.epochs=1", cwd=tmp_path)

    changed = mltrain("fit", *QUICK, "optimizer.lr=0.5", f"resume={run}", cwd=tmp_path)

    assert changed.returncode == 2
    assert "these keys differ from the saved config: optimizer.lr" in changed.stderr


@pytest.mark.slow
def test_sigterm_saves_an_interrupted_run_that_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = start(run, *LONG)
    wait_for_epochs(run, 2, process)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    done = summary["epochs_completed"]
    result = mltrain("fit", *LONG[1:], f"trainer.epochs={done + 1}", f"resume={run}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(pd.read_csv(run / "history.csv").epoch) == list(range(1, done + 2))


@pytest.mark.slow
def test_kill_9_leaves_parseable_history_and_summary(tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = start(run, *LONG)
    wait_for_epochs(run, 2, process)

    process.kill()
    process.wait(timeout=60)

    history = pd.read_csv(run / "history.csv")
    summary = json.loads((run / "summary.json").read_text())
    assert list(history.epoch) == list(range(1, len(history) + 1))
    assert summary["status"] == "running" and summary["epochs_completed"] >= 2


@pytest.mark.slow
def test_a_second_run_in_a_live_runs_directory_refuses_to_start(tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = start(run, *LONG)
    try:
        wait_for_epochs(run, 1, process)
        second = mltrain("fit", f"hydra.run.dir={run}", *LONG, cwd=tmp_path)
    finally:
        process.kill()
        process.wait(timeout=60)

    assert second.returncode == 2
    assert f"in use by a running mltrain process (pid {process.pid})" in second.stderr
