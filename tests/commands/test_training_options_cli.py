"""The issue-21 flows as docs/training-options.md and docs/lr_find.md tell a person to run them: in a fresh
directory, mltrain naming the run directories, each command taking what the last one printed."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mltrain import cli
from mltrain.rundir import RunDir
from mltrain.rundir.naming import unique_run_dir
from tests.conftest import mltrain, write_penguins

DIR = re.compile(r"-> (\S+)$", re.MULTILINE)  # the run directory fit's last line names


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable:
    """``run_cli(args) -> (status, stdout + stderr)``: ``cli.main`` in this process, as the script runs it."""
    monkeypatch.setattr("sys.argv", ["mltrain"])

    def run(args: list[str]) -> tuple[int, str]:
        unique_run_dir.cache_clear()
        capsys.readouterr()
        try:
            cli.main(args)
            status = 0
        except SystemExit as stopped:
            status = int(stopped.code or 0)
        out = capsys.readouterr()
        return status, out.out + out.err

    return run


def _penguins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    write_penguins(tmp_path / "penguins.csv")
    return ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species", "model.hidden=[16]"]


@pytest.mark.slow  # two fits; tests/training/test_training_options.py has the writer's fast twin
def test_top_k_checkpoints_survive_a_kill_and_a_resume(
    run_cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _penguins(tmp_path, monkeypatch)
    status, out = run_cli(["fit", *data, "trainer.epochs=3", "checkpoint.save_top_k=2"])
    assert status == 0, out
    run = RunDir(Path(DIR.findall(out)[-1]))
    summary = json.loads(run.summary.read_text())
    assert summary["model"]["total_parameters"] == summary["parameters"]
    assert "model summary" in out and f"{summary['parameters']:,} trainable" in out
    # a process killed after writing epoch 4's top-k file, before last.pt committed epoch 4
    (run.checkpoints / "epoch-004_val_loss-0.01.pt").write_bytes(run.last_checkpoint.read_bytes())
    status, out = run_cli(["fit", f"resume={run.path}", "trainer.epochs=6"])
    assert status == 0, out
    with run.history_csv.open() as f:
        history = list(csv.DictReader(f))
    best = sorted(history, key=lambda r: (float(r["val_loss"]), int(r["epoch"])))[:2]
    expected = {f"epoch-{int(r['epoch']):03d}_val_loss-{float(r['val_loss']):.6g}.pt" for r in best}
    assert {p.name for p in run.top_k_checkpoints()} == expected
    assert {"last.pt", "best.pt"} <= {p.name for p in run.checkpoints.iterdir()}
    kept = torch.load(run.top_k_checkpoints()[0], weights_only=True)
    assert kept["history"][-1]["epoch"] == int(run.top_k_checkpoints()[0].name[6:9])


def test_class_weights_are_stored_so_evaluate_reports_the_fits_loss(
    run_cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _penguins(tmp_path, monkeypatch)
    frame = pd.read_csv("penguins.csv")
    keep = (
        frame[frame.species != "Gentoo"].index.tolist() + frame[frame.species == "Gentoo"].index[:12].tolist()
    )
    frame.loc[sorted(keep)].to_csv("penguins.csv", index=False)  # Gentoo now rare
    status, out = run_cli(["fit", *data, "trainer.epochs=3", "loss.class_weight=balanced"])
    assert status == 0, out
    run = RunDir(Path(DIR.findall(out)[-1]))
    summary = json.loads(run.summary.read_text())
    weights = summary["class_weights"]
    assert weights[2] > 2 * weights[0]  # Gentoo (sorted last) weighs most
    status, out = run_cli(["evaluate", f"run={run.path}"])
    assert status == 0, out
    evaluation = json.loads(next(Path("runs/evaluate").glob("*/evaluation.json")).read_text())
    assert evaluation["metrics"]["loss"] == pytest.approx(summary["best"]["val_loss"], rel=1e-6)


def test_lr_find_prints_the_rate_to_paste_and_leaves_no_model(
    run_cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _penguins(tmp_path, monkeypatch)
    status, out = run_cli(["lr_find", *data, "trainer.batch_size=16"])
    assert status == 0, out
    pasted = re.findall(r"use: (optimizer\.lr=\S+)", out)[-1]
    found = next(Path("runs/lr_find").iterdir())
    assert sorted(p.name for p in found.iterdir() if p.name != ".hydra") == [
        "lr_find.csv", "lr_find.log", "lr_find.png",
    ]  # fmt: skip
    with RunDir(found).lr_find_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert 3 <= len(rows) <= 15  # 240 training rows in batches of 16: one epoch at most
    lrs = [float(r["lr"]) for r in rows]
    assert np.allclose(np.diff(np.log(lrs)), np.log(lrs[1] / lrs[0]))
    status, out = run_cli(["fit", *data, "trainer.epochs=2", pasted])
    assert status == 0, out
    assert not list(Path("runs/lr_find").glob("*/model.pt")) and not list(
        Path("runs/lr_find").glob("*/checkpoints")
    )


@pytest.mark.slow  # subprocesses: the same flow as the in-process test above, as the shell runs it
def test_lr_find_as_a_subprocess(tmp_path: Path) -> None:
    write_penguins(tmp_path / "penguins.csv")
    data = ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species", "trainer.batch_size=16"]
    done = mltrain("lr_find", *data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pasted = re.findall(r"use: (optimizer\.lr=\S+)", done.stdout + done.stderr)[-1]
    done = mltrain("fit", *data, "trainer.epochs=2", pasted, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not list((tmp_path / "runs" / "lr_find").glob("*/model.pt"))
