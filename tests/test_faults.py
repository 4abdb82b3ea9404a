"""Faults injected at every write of a run: a full disk, SIGKILL and SIGTERM; then ``resume=``.

After any fault every file a run left parses, ``summary.json`` never counts an epoch that
``checkpoints/last.pt`` does not hold, and ``resume=`` ends with the same files as a run that was never
stopped (the numbers bit for bit on CPU). A full disk is injected in-process (``os.replace`` is the last
step of every atomic write); kills run the installed command in a subprocess that kills itself at the
N-th write.

    python -m pytest tests/test_faults.py -q -m "slow or not slow"
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import DictConfig

from mltrain.commands import fit
from mltrain.files import WriteError

Compose = Callable[..., DictConfig]
RUN = ["dataset=iris", "trainer.epochs=3", "model.hidden=[16]", "trainer.batch_size=32"]


def write_order(compose_fit: Compose, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run once, uninterrupted, recording each file an atomic write put in place, in order."""
    real, written = os.replace, []

    def recording(src: str, dst: str) -> None:
        real(src, dst)
        written.append(str(Path(dst).relative_to(out_dir)))

    monkeypatch.setattr(os, "replace", recording)
    fit.run(compose_fit(RUN), out_dir)
    monkeypatch.setattr(os, "replace", real)
    return written


def disk_full_at(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``n``-th atomic write (0-based) fails as on a full disk; the others go through."""
    real, calls = os.replace, []

    def failing(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) - 1 == n:
            raise OSError(errno.ENOSPC, "No space left on device", dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)


def assert_files_agree(run: Path, killed: bool = False) -> None:
    """Every file whole; the summary's epochs are last.pt's; the history is last.pt's or one behind.

    A failed write removes its temporary file; a killed one leaves it for ``resume=`` to remove.
    """
    assert killed or not list(run.rglob(".*.tmp")), "temporary files left behind"
    committed = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] if (
        run / "checkpoints" / "last.pt").is_file() else 0  # fmt: skip
    if (run / "summary.json").is_file():
        summary = json.loads((run / "summary.json").read_text())
        if summary["status"] != "running":  # the status the fault left: it names what last.pt holds
            assert summary["epochs_completed"] == committed
    if (run / "history.csv").is_file():
        rows = len(pd.read_csv(run / "history.csv"))
        assert committed - 1 <= rows <= committed
    if (run / "model.pt").is_file():
        torch.load(run / "model.pt", weights_only=True)


def assert_same_run(run: Path, reference: Path) -> None:
    """The numbers and weights of two runs are equal, bit for bit (wall times aside); no temporary files."""
    assert not list(run.rglob(".*.tmp")), "temporary files left behind"
    a, b = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (run, reference))
    pd.testing.assert_frame_equal(a, b)
    for name in ("model.pt", "checkpoints/last.pt", "checkpoints/best.pt"):
        x, y = (torch.load(d / name, weights_only=True) for d in (run, reference))
        x, y = (s.get("model", s) for s in (x, y))
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), name
    s, r = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    assert (s["status"], s["best_epoch"], s["objective"], s["epochs_completed"]) == (
        r["status"], r["best_epoch"], r["objective"], r["epochs_completed"])  # fmt: skip


def finish(compose_fit: Compose, run: Path) -> None:
    """Continue a run after a fault: ``resume=`` when it has a checkpoint, else start it again."""
    resume = [f"resume={run}"] if (run / "checkpoints" / "last.pt").is_file() else []
    fit.run(compose_fit([*RUN, *resume]), run)


def _points(order: list[str]) -> dict[str, int]:
    """Representative write points: the second epoch's checkpoint, history and summary; the last ones."""
    second = [i for i, name in enumerate(order) if name == "checkpoints/last.pt"][1]
    picks = {"last.pt of epoch 2": second, "history.csv of epoch 2": order.index("history.csv", second)}
    picks["summary of epoch 2"] = order.index("summary.json", second)
    picks["model.pt"] = order.index("model.pt")
    picks["final summary"] = len(order) - 1
    return picks


def test_a_full_disk_at_each_kind_of_write_leaves_agreeing_files_and_resumes_to_the_same_run(
    compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    order = write_order(compose_fit, reference, monkeypatch)
    assert order[-2:] == ["model.pt", "summary.json"]  # the model is on disk before the final status
    for what, n in _points(order).items():
        run = tmp_path / what.replace(" ", "_")
        disk_full_at(n, monkeypatch)
        with pytest.raises(WriteError, match="No space left on device") as failed:
            fit.run(compose_fit(RUN), run)
        monkeypatch.undo()
        assert failed.value.filename == str(run / order[n]), what
        assert_files_agree(run)
        finish(compose_fit, run)
        assert_same_run(run, reference)


@pytest.mark.slow
def test_a_full_disk_at_every_write(
    compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    order = write_order(compose_fit, reference, monkeypatch)
    for n in range(len(order)):
        run = tmp_path / f"at_{n}"
        disk_full_at(n, monkeypatch)
        with pytest.raises(WriteError):
            fit.run(compose_fit(RUN), run)
        monkeypatch.undo()
        assert_files_agree(run)
        finish(compose_fit, run)
        assert_same_run(run, reference)


KILLER = """
import os, signal, sys
real, calls = os.replace, []
def replace(src, dst):
    if "/.hydra/" in str(dst):  # Hydra's record of the job, before the run's first file: not counted
        return real(src, dst)
    calls.append(dst)
    if len(calls) - 1 == {n} and {before}:
        os.kill(os.getpid(), {sig})
    real(src, dst)
    if len(calls) - 1 == {n} and not {before}:
        os.kill(os.getpid(), {sig})
os.replace = replace
from mltrain.cli import main
main(sys.argv[1:])
"""


def mltrain_killed_at(n: int, sig: int, before: bool, run: Path) -> subprocess.CompletedProcess:
    """``mltrain fit`` that sends itself ``sig`` just before (or after) the ``n``-th atomic write of the run's
    files (the order :func:`write_order` records; ``.hydra/``, written first by the job, is not counted)."""
    code = KILLER.format(n=n, sig=int(sig), before=before)
    args = ["fit", *RUN, f"hydra.run.dir={run}"]
    return subprocess.run([sys.executable, "-c", code, *args], cwd=run.parent, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip


def resume(run: Path) -> subprocess.CompletedProcess:
    """``mltrain fit ... resume=<run>``, or the same run started again when it has no checkpoint yet."""
    again = f"resume={run}" if (run / "checkpoints" / "last.pt").is_file() else f"hydra.run.dir={run}"
    return subprocess.run([sys.executable, "-m", "mltrain", "fit", *RUN, again], cwd=run.parent,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.slow  # 10 s; test_a_signal_at_every_write_then_resume_gives_the_same_run covers this point too
def test_sigkill_at_the_second_epochs_checkpoint_then_resume_gives_the_same_run(
    compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    order = write_order(compose_fit, reference, monkeypatch)
    n = _points(order)["last.pt of epoch 2"]
    run = tmp_path / "killed"
    killed = mltrain_killed_at(n, signal.SIGKILL, before=False, run=run)
    assert killed.returncode == -signal.SIGKILL
    assert_files_agree(run, killed=True)
    resumed = resume(run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run, reference)
    assert not (run / ".lock").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_signal_at_every_write_then_resume_gives_the_same_run(
    sig: int, compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    order = write_order(compose_fit, reference, monkeypatch)
    for n in range(len(order)):
        for before in (True, False):
            run = tmp_path / f"at_{n}_{'before' if before else 'after'}"
            killed = mltrain_killed_at(n, sig, before, run)
            assert killed.returncode in (-signal.SIGKILL, 143, 0), killed.stderr
            if sig == signal.SIGTERM:  # held until the epoch's files are written: they agree exactly
                assert "Traceback" not in killed.stderr
                assert_sigterm_files_agree(run, killed)
            assert_files_agree(run, killed=True)
            if killed.returncode != 0:
                assert resume(run).returncode == 0
            assert_same_run(run, reference)


def assert_sigterm_files_agree(run: Path, killed: subprocess.CompletedProcess) -> None:
    summary = json.loads((run / "summary.json").read_text())
    if killed.returncode == 0 or summary["status"] == "completed":  # the signal came with the last writes
        return
    assert summary["status"] == "interrupted"
    committed = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] if (
        run / "checkpoints" / "last.pt").is_file() else 0  # fmt: skip
    history = run / "history.csv"  # none yet when the signal came before the first epoch's files
    assert summary["epochs_completed"] == committed == (len(pd.read_csv(history)) if history.is_file() else 0)


def test_ctrl_c_at_the_first_file_leaves_a_summary_saying_interrupted(
    compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.replace

    def ctrl_c_at_config(src: str, dst: str) -> None:
        if Path(dst).name == "config.yaml":
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", ctrl_c_at_config)
    with pytest.raises(KeyboardInterrupt):
        fit.run(compose_fit(RUN), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["epochs_completed"], summary["best_epoch"]) == ("interrupted", 0, None)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "history.csv").exists()


def test_ctrl_c_during_an_epochs_writes_is_held_until_they_agree(
    compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = os.replace, []

    def ctrl_c_at_the_second_history(src: str, dst: str) -> None:
        calls.append(Path(dst).name)
        if calls.count("history.csv") == 2 and Path(dst).name == "history.csv":
            signal.raise_signal(signal.SIGINT)  # Ctrl-C right as epoch 2's history is written
        real(src, dst)

    monkeypatch.setattr(os, "replace", ctrl_c_at_the_second_history)
    with pytest.raises(KeyboardInterrupt):
        fit.run(compose_fit(RUN), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert summary["status"] == "interrupted" and summary["message"].startswith("interrupted during epoch 3")
    assert summary["epochs_completed"] == last["epoch"] == len(pd.read_csv(tmp_path / "history.csv")) == 2
    assert summary["best_epoch"] == last["early_stopping"]["best_epoch"]
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / ".lock").exists()
