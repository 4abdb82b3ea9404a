"""``mlflow ui`` starts against the store a run logged to, in the environment of ``pip install -e ".[dev]"``.

    python -m pytest -q -m slow tests/test_mlflow_ui.py

As the Loggers section tells a user: ``mltrain fit logger=[mlflow]`` in a fresh directory, then ``mlflow ui
--backend-store-uri <the store the run printed>`` on 127.0.0.1; the test waits until the server answers,
finds the experiment and the run through MLflow's REST API, compares the logged metrics with the run's
``history.csv``, and stops the server. (MLflow 3's server needs SQLAlchemy 2: beside SQLAlchemy 1.4 it
does not start.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import mltrain

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mlflow_ui(store: str, cwd: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``mlflow ui`` on a free port of 127.0.0.1, in its own process group, stopped on exit; its URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store, "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=out, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        stop_group(server, signal.SIGTERM)  # the server and its uvicorn workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_group(server, signal.SIGKILL)
            server.wait()


def stop_group(server: subprocess.Popen, signal_number: int) -> None:
    with suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(server.pid, signal_number)


def wait_until_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 240) -> float:
    """Poll ``/health`` until it answers 200; the seconds it took. A server that exits fails the test."""
    start = time.monotonic()
    while time.monotonic() - start < seconds and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.5)
    state = "did not answer" if server.poll() is None else f"exited with status {server.returncode}"
    waited = time.monotonic() - start
    pytest.fail(f"mlflow ui {state} after {waited:.0f} s; its log:\n{log.read_text()[-3000:]}")


def rest(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/{path}", data=data)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.mark.slow  # the server took about 50 s to answer on our 2-core machine under a load of 10
def test_mlflow_ui_starts_against_the_runs_store_and_lists_the_run(tmp_path: Path) -> None:
    result = mltrain("fit", "logger=[mlflow]", "dataset=iris", "trainer.epochs=2", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    printed = re.search(r"mlflow: run (\w+) in experiment (\w+) at (\S+)", output)
    assert printed, output
    run_id, experiment, store = printed.groups()
    assert store == "sqlite:///runs/mlflow.db"  # the default local store, relative to where mltrain ran
    run_dir = Path(re.findall(r"-> (\S+)$", output, flags=re.MULTILINE)[-1])
    history = pd.read_csv(run_dir / "history.csv")

    log = tmp_path / "mlflow-ui.log"
    with mlflow_ui(store, cwd=tmp_path, log=log) as (url, server):
        wait_until_up(url, server, log)
        found = rest(url, f"experiments/get-by-name?experiment_name={experiment}")["experiment"]
        runs = rest(url, "runs/search", {"experiment_ids": [found["experiment_id"]]})["runs"]
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and page.read(15).lower() == b"<!doctype html>"
    (run,) = runs
    assert run["info"]["run_id"] == run_id and run["info"]["status"] == "FINISHED"
    metrics = {metric["key"]: metric for metric in run["data"]["metrics"]}
    for column in ("loss", "val_loss", "val_accuracy"):  # the last epoch's values, as the run logged them
        assert metrics[column]["step"] == len(history) == 2
        assert metrics[column]["value"] == pytest.approx(history[column].iloc[-1], rel=1e-6)
