"""``fit.run`` in-process: early stopping, schedules, checkpoints and resuming, on a small dataset.

    python -m pytest tests/commands/test_fit.py -q

The resume test compares a run interrupted after 2 epochs and resumed to 4 with an uninterrupted 4-epoch
run: the same weights bit for bit and the same history rows (CPU).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import DictConfig

from mltrain import rundir as rundirs
from mltrain.commands import builders, fit
from mltrain.config.spec import RunSpec
from mltrain.errors import ConfigError, DataError
from mltrain.training.checkpoints import load_checkpoint
from tests.conftest import write_penguins

Compose = Callable[..., DictConfig]
SMALL = ["dataset=iris", "model.hidden=[16]", "model.dropout=0.2", "trainer.batch_size=16",
         "trainer.device=cpu"]  # fmt: skip
TABM = ["dataset=iris", "model=tabm", "model.k=4", "model.d_block=16", "model.n_bins=8",
        "model.d_embedding=4", "dataset.numeric=quantile", "trainer.batch_size=16",
        "trainer.device=cpu"]  # fmt: skip


def test_early_stopping_stops_and_says_so(compose_fit: Compose, tmp_path: Path) -> None:
    cfg = compose_fit([*SMALL, "trainer.epochs=50", "optimizer.lr=0.5", "early_stopping.patience=2",
                       "early_stopping.restore_best=true"])  # fmt: skip

    summary = fit.run(cfg, tmp_path)

    history = pd.read_csv(tmp_path / "history.csv")
    assert summary["status"] == "early_stopped" and len(history) < 50
    best = int(history.loc[history.val_loss.idxmin(), "epoch"])
    assert list(history.val_loss[best:]) and all(v >= history.val_loss.min() for v in history.val_loss[best:])
    assert len(history) == best + 2 and summary["best_epoch"] == best


def test_monitor_must_be_a_history_column(compose_fit: Compose, tmp_path: Path) -> None:
    cfg = compose_fit([*SMALL, "early_stopping.monitor=val_f1", "early_stopping.mode=up"])

    with pytest.raises(ConfigError) as error:
        fit.run(cfg, tmp_path)

    message = str(error.value)
    assert "early_stopping.monitor=val_f1 is not a history column" in message
    assert "loss, accuracy, val_loss, val_accuracy, lr" in message
    assert "early_stopping.mode=up is not valid" in message


def test_max_monitor_picks_the_best_epoch_by_the_highest_value(compose_fit: Compose, tmp_path: Path) -> None:
    cfg = compose_fit([*SMALL, "trainer.epochs=3", "objective=val_accuracy"])
    assert cfg.early_stopping.monitor == "val_accuracy"  # early stopping watches the objective by default

    summary = fit.run(cfg, tmp_path)

    history = pd.read_csv(tmp_path / "history.csv")
    assert summary["mode"] == "max"
    assert summary["best"]["val_accuracy"] == history.val_accuracy.max()


def test_schedule_and_grad_clip_reach_the_history(compose_fit: Compose, tmp_path: Path) -> None:
    schedule = ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0.5", "scheduler.warmup_epochs=1"]
    cfg = compose_fit([*SMALL, "trainer.epochs=4", *schedule, "trainer.grad_clip=1.0"])

    fit.run(cfg, tmp_path)

    lr = cfg.optimizer.lr
    assert list(pd.read_csv(tmp_path / "history.csv").lr) == pytest.approx([lr / 2, lr, lr / 2, lr / 4])


def test_checkpoints_load_with_weights_only(compose_fit: Compose, tmp_path: Path) -> None:
    cfg = compose_fit([*SMALL, "trainer.epochs=3", "scheduler=cosine"])

    fit.run(cfg, tmp_path)

    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert last["epoch"] == 3 and len(last["history"]) == 3
    assert best["epoch"] == summary["best_epoch"]
    assert set(last["rng"]) == {"python", "numpy", "torch", "shuffle"}
    assert set(last) >= {"model", "optimizer", "scheduler", "early_stopping"}


@pytest.mark.parametrize(
    "model", [SMALL, pytest.param(TABM, marks=pytest.mark.slow)], ids=["mlp", "tabm"]
)  # tabm: ~15 s on the shared machine; its save / predict / export run in test_export.py by default
def test_resume_equals_an_uninterrupted_run(compose_fit: Compose, tmp_path: Path, model: list[str]) -> None:
    overrides = [*model, "scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0.7",
                 "early_stopping.patience=10"]  # fmt: skip
    whole, part = tmp_path / "whole", tmp_path / "part"
    fit.run(compose_fit([*overrides, "trainer.epochs=4"]), whole)
    first = fit.run(compose_fit([*overrides, "trainer.epochs=2"]), part)
    (part / "summary.json").write_text(json.dumps(first | {"wall_time_s": 1000.0}))  # a long first part

    started = time.perf_counter()
    summary = fit.run(compose_fit([*overrides, "trainer.epochs=4", f"resume={part}"]), part)
    took = time.perf_counter() - started

    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    # the clock of the whole run: the first process's start, both processes' time, when it was resumed
    assert summary["started_at"] == first["started_at"] and first["resumed_at"] == []
    assert 1000.0 < summary["wall_time_s"] < 1000.0 + took
    assert len(summary["resumed_at"]) == 1 and summary["resumed_at"][0] >= first["finished_at"]
    a, b = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (whole, part))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    ma, mb = (load_checkpoint(d / "checkpoints" / "last.pt")["model"] for d in (whole, part))
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    with pytest.raises(ConfigError, match=r"has done 4 epochs, more than trainer.epochs=2"):
        fit.run(compose_fit([*overrides, "trainer.epochs=2", f"resume={part}"]), part)


def test_resume_refuses_a_changed_config_or_a_missing_checkpoint(
    compose_fit: Compose, tmp_path: Path
) -> None:
    fit.run(compose_fit([*SMALL, "trainer.epochs=1"]), tmp_path)

    with pytest.raises(ConfigError, match=r"these keys differ from the saved config: optimizer.lr, seed"):
        fit.run(compose_fit([*SMALL, "optimizer.lr=0.5", "seed=3", f"resume={tmp_path}"]), tmp_path)
    with pytest.raises(ConfigError, match="the run directory has no checkpoints/last.pt"):
        fit.run(compose_fit([*SMALL, f"resume={tmp_path / 'nope'}"]), tmp_path / "nope")
    (tmp_path / "config.yaml").unlink()
    with pytest.raises(ConfigError, match="the run directory has no config.yaml"):
        fit.run(compose_fit([*SMALL, f"resume={tmp_path}"]), tmp_path)


class _Exploit:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path("PWNED"),))


def test_a_crafted_checkpoint_is_refused_and_never_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "last.pt"
    torch.save({"model": _Exploit()}, path)

    with pytest.raises(DataError, match="is not a safe mltrain checkpoint"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(DataError, match="is not a safe mltrain checkpoint"):
        load_checkpoint(path)

    assert not (tmp_path / "PWNED").exists()


def test_a_locked_run_directory_is_refused(tmp_path: Path) -> None:
    refused = pytest.raises(ConfigError, match=r"in use by a running mltrain process")
    with rundirs.run_lock(tmp_path), refused, rundirs.run_lock(tmp_path):
        pass
    with rundirs.run_lock(tmp_path):  # released
        pass


def test_deterministic_turns_on_torchs_deterministic_algorithms(compose_fit: Compose) -> None:
    try:
        builders.setup_runtime(RunSpec.resolve(compose_fit([*SMALL, "trainer.deterministic=true"])))
        assert torch.are_deterministic_algorithms_enabled()
        builders.setup_runtime(RunSpec.resolve(compose_fit(SMALL)))
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_rows_without_a_target_are_counted_in_the_summary(compose_fit: Compose, tmp_path: Path) -> None:
    frame = pd.read_csv(write_penguins(tmp_path / "p.csv"))
    frame.loc[[0, 5, 7], "species"] = None
    frame.to_csv(tmp_path / "p.csv", index=False)
    cfg = compose_fit(["dataset=csv", f"dataset.path={tmp_path / 'p.csv'}", "dataset.target=species",
                       "dataset.missing=impute", "trainer.epochs=1", "model.hidden=[4]"])  # fmt: skip

    summary = fit.run(cfg, tmp_path / "run")

    assert summary["data"]["dropped_rows"] == 3
    data = summary["data"]
    assert data["train_rows"] + data["val_rows"] + data["test_rows"] == 300 - 3
