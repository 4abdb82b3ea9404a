"""DistributedDataParallel runs on CPU (gloo), as users start them: ``trainer.nproc=2`` and torchrun.

    python -m pytest tests/commands/test_ddp.py -q -m slow      # several minutes: each run starts processes

Every multi-process run is compared with a one-process run of the same global batch (the reference is
``trainer.nproc=1``: the plain Trainer, which tests/training/test_trainer.py checks against a hand-written
loop). The split of batches and the reductions are unit-tested in tests/training/test_distributed.py.
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
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.manual import MANUAL

pytestmark = pytest.mark.slow

SMALL = ["dataset=synthetic", "dataset.rows=3000", "trainer.batch_size=100", "trainer.num_threads=1"]
LOSSES, COUNTS = ["loss", "val_loss"], ["accuracy", "val_accuracy"]


def mltrain(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m mltrain <args>``, given 15 minutes: a machine shared with other jobs may be slow."""
    env = {**os.environ, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "mltrain", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def run_dir(result: subprocess.CompletedProcess, cwd: Path) -> Path:
    """The run directory the last log line names: ``... -> runs/fit/<dir>``."""
    last = [line for line in result.stdout.splitlines() if " -> " in line][-1]
    return cwd / last.rsplit(" -> ", 1)[1].strip()


def assert_same_run(ddp: Path, single: Path, epochs: int) -> None:
    """Losses to float32 precision and weights to 1e-6: all-reduce sums in another order, nothing else.

    Accuracy counts rows: a weight 1e-7 away may flip a row on the boundary (seen: 2 of 80,000).
    """
    a, b = pd.read_csv(ddp / "history.csv"), pd.read_csv(single / "history.csv")
    assert list(a.epoch) == list(b.epoch) == list(range(1, epochs + 1))
    np.testing.assert_allclose(a[LOSSES], b[LOSSES], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a[COUNTS], b[COUNTS], rtol=0, atol=2e-4)
    wa, wb = (torch.load(d / "model.pt", weights_only=True) for d in (ddp, single))
    assert wa.keys() == wb.keys()  # the plain module's names: no "module." prefix from DDP's wrapper
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=1e-6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_walked_as_a_user_equal_one_process(tmp_path: Path) -> None:
    """The README's command, then the same global batch in one process.

    With SGD: Adam's normalised steps amplify the all-reduce's rounding over hundreds of steps (in one
    process too, when a batch's gradient is summed in two halves); the torchrun test below runs Adam.
    """
    command = ["fit", "trainer.nproc=2", "dataset=synthetic", "dataset.rows=100000", "trainer.epochs=2",
               "optimizer=sgd", "optimizer.momentum=0.9", "trainer.batch_size=512"]  # fmt: skip
    ddp = mltrain(*command, cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr
    assert "starting 2 processes (DistributedDataParallel, gloo)" in ddp.stdout
    assert ddp.stdout.count("epoch 1/2 ") == 1  # rank 0 alone prints
    single = mltrain(*[a.replace("nproc=2", "nproc=1") for a in command], cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    ddp_dir, single_dir = run_dir(ddp, tmp_path), run_dir(single, tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs" / "fit").iterdir()) == sorted(
        [ddp_dir.name, single_dir.name]
    )
    assert_same_run(ddp_dir, single_dir, epochs=2)
    files = {p.relative_to(ddp_dir) for p in ddp_dir.rglob("*") if p.name != "fit.log"}
    assert files == {p.relative_to(single_dir) for p in single_dir.rglob("*") if p.name != "fit.log"}
    summary = json.loads((ddp_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["data"]["train_rows"] == 80000
    resumed = mltrain(*command, "trainer.epochs=3", f"resume={ddp_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(ddp_dir / "history.csv").epoch) == [1, 2, 3]
    report = mltrain("report", "runs", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert f"fit/{ddp_dir.name[:19]}" in report.stdout
    assert len(pd.read_csv(tmp_path / "runs" / "report.csv")) == 2


def torchrun(*args: str, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", f"--log-dir={cwd / 'torchrun-logs'}", *args]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_readmes_two_node_rendezvous_on_localhost(tmp_path: Path) -> None:
    """The README's two torchrun commands (one per node), on one machine: one run, one process's result."""
    lines = [line for line in re.findall(r"^torchrun --nnodes=2 .*$", MANUAL, flags=re.M)]
    assert len(lines) == 2, "the README shows one torchrun command per node"
    port, run_id = free_port(), uuid.uuid4().hex[:8]
    nodes = []
    for line in lines:
        args = line.split("#")[0].rstrip(" &").split()[1:]
        args = [a.replace("29400", str(port)).replace("=job42", f"={run_id}") for a in args]
        nodes.append(torchrun(*args, *SMALL, "trainer.epochs=3", cwd=tmp_path))
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (out, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, out[-2000:] + err[-3000:]
    runs = list((tmp_path / "runs" / "fit").iterdir())
    assert len(runs) == 1  # rank 0 named it; the other node's rank ran in a scratch directory
    single = mltrain("fit", *SMALL, "trainer.epochs=3", f"hydra.run.dir={tmp_path / 'single'}", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    assert_same_run(runs[0], tmp_path / "single", epochs=3)


def start_ddp(run: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "mltrain",
        "fit",
        "trainer.nproc=2",
        *SMALL,
        f"hydra.run.dir={run}",
        *args,
    ]
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.Popen(command, cwd=run.parent, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_epochs(run: Path, n: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = run / "history.csv"
        if history.is_file() and len(history.read_text().splitlines()) > n:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError(f"no {n} epochs in {timeout}s")


def test_sigterm_stops_every_rank_and_the_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    """Resumed, the run continues exactly: the same weights as the same two processes never stopped.

    (Against one process, hundreds of Adam steps amplify all-reduce's rounding: seen 5e-4 in val_loss
    after 480 steps of 20 rows, so one process is compared in the shorter runs above.)
    """
    run = tmp_path / "ddp"
    process = start_ddp(run, "trainer.epochs=40", "trainer.batch_size=20")
    wait_for_epochs(run, 2, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert err.strip().splitlines() == [f"error: interrupted; the epochs before it are saved in {run}"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert len(pd.read_csv(run / "history.csv")) == summary["epochs_completed"] >= 2
    assert not list(run.glob("rank_*.log")) and not list(run.rglob(".*.tmp"))
    epochs = summary["epochs_completed"] + 2
    common = [*SMALL, f"trainer.epochs={epochs}", "trainer.batch_size=20"]
    resumed = mltrain("fit", "trainer.nproc=2", *common, f"resume={run}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    whole = mltrain("fit", "trainer.nproc=2", *common, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    a, b = pd.read_csv(run / "history.csv"), pd.read_csv(tmp_path / "whole" / "history.csv")
    pd.testing.assert_frame_equal(a.drop(columns="time_s"), b.drop(columns="time_s"))
    wa, wb = (torch.load(d / "model.pt", weights_only=True) for d in (run, tmp_path / "whole"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_killed_rank_fails_the_run_with_a_message_naming_it(tmp_path: Path) -> None:
    run, scratch = tmp_path / "ddp", tmp_path / "tmp"
    scratch.mkdir()
    process = start_ddp(run, "trainer.epochs=40", "trainer.batch_size=20", env={"TMPDIR": str(scratch)})
    wait_for_epochs(run, 1, process)
    lock = next(scratch.glob("mltrain-ranks-*/mltrain-rank1-*/.lock"))  # rank 1's scratch run holds its pid
    pid = int(lock.read_text())
    os.kill(pid, signal.SIGKILL)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    message = f"rank 1 (pid {pid}) was killed by signal SIGKILL; the other ranks were stopped"
    assert err.strip().splitlines() == [f"error: {message}; run directory {run}"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["message"] == message
    pd.read_csv(run / "history.csv")  # whole files only: every write is a rename
    assert not list(run.rglob(".*.tmp"))
    assert not list(scratch.glob("mltrain-ranks-*"))  # the launcher removed the ranks' scratch directories


def test_kfold_with_early_stopping_in_a_sweep_of_two_process_jobs_equals_one_process(tmp_path: Path) -> None:
    """Each sweep job is a DDP job (through the submitit launcher), each fold a DDP fit."""
    sweep = ["dataset=iris", "validation=kfold", "validation.k=2", "early_stopping.patience=2",
             "trainer.epochs=15", "trainer.batch_size=16", "trainer.num_threads=1",
             "optimizer.lr=0.05,0.002"]  # fmt: skip
    ddp = mltrain("fit", "-m", "hydra/launcher=submitit_local", "trainer.nproc=2", *sweep,
                  f"hydra.sweep.dir={tmp_path / 'ddp'}", cwd=tmp_path)  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr
    single = mltrain("fit", "-m", *sweep, f"hydra.sweep.dir={tmp_path / 'single'}", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    a, b = (pd.read_csv(tmp_path / d / "sweep.csv") for d in ("ddp", "single"))
    assert list(a.status) == list(b.status) == ["completed", "completed"]
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-5)
    for job in (0, 1):
        cv = [
            json.loads(next((tmp_path / d).glob(f"{job}_*/cv_summary.json")).read_text())
            for d in ("ddp", "single")
        ]
        assert [f["best_epoch"] for f in cv[0]["folds"]] == [f["best_epoch"] for f in cv[1]["folds"]]
        assert [f["status"] for f in cv[0]["folds"]] == [f["status"] for f in cv[1]["folds"]]
    folds = [json.loads(p.read_text())["status"] for p in (tmp_path / "ddp").rglob("fold_*/summary.json")]
    assert len(folds) == 4 and "early_stopped" in folds


def test_trainer_nproc_under_torchrun_is_one_clear_error(tmp_path: Path) -> None:
    node = torchrun(
        "--standalone", "--nproc-per-node=2", "-m", "mltrain", "fit", "trainer.nproc=2", cwd=tmp_path
    )
    out, err = node.communicate(timeout=300)
    assert node.returncode != 0  # torchrun reports rank 0's exit status 2 as a failed worker
    message = (
        "error: trainer.nproc=2 starts its own processes, but this mltrain is one of torchrun's 2 already; "
        "leave trainer.nproc=1 (torchrun's --nproc-per-node decides)\n"
    )
    assert message in err
    assert not (tmp_path / "runs" / "fit").exists() or not list((tmp_path / "runs" / "fit").iterdir())
