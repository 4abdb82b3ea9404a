"""k-fold cross-validation and the held-out test split, through ``fit.run`` on composed configs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import DictConfig

from mltrain.commands import fit
from mltrain.commands import single_run as training_run
from mltrain.errors import ConfigError

Compose = Callable[..., DictConfig]
QUICK = ["dataset=iris", "trainer.epochs=3", "model.hidden=[16]"]


def test_kfold_folds_are_disjoint_cover_the_rows_and_are_stratified(
    compose_fit: Compose, tmp_path: Path
) -> None:
    cfg = compose_fit([*QUICK, "validation=kfold", "validation.k=3"])

    cv = fit.run(cfg, tmp_path)

    folds = json.loads((tmp_path / "fold_indices.json").read_text())["folds"]
    val = [np.array(f["val"]) for f in folds]
    assert sorted(np.concatenate(val).tolist()) == list(range(150))  # disjoint and covering
    labels = pd.read_csv(tmp_path / "fold_1" / "history.csv")  # each fold is a full run
    assert list(labels.columns[:2]) == ["fold", "epoch"]
    for i, rows in enumerate(val, 1):
        assert len(rows) == 50
        report = json.loads((tmp_path / f"fold_{i}" / "classification_report.json").read_text())
        assert all(report[c]["support"] in (16, 17) for c in ("setosa", "versicolor", "virginica"))
        for name in ("summary.json", "config.yaml", "preprocessing.json", "model.pt", "history.json"):
            assert (tmp_path / f"fold_{i}" / name).is_file(), name
    assert cv["k"] == 3 and cv["status"] == "completed"


def test_cv_summary_statistics_equal_pandas_over_the_fold_summaries(
    compose_fit: Compose, tmp_path: Path
) -> None:
    fit.run(compose_fit([*QUICK, "validation=kfold", "validation.k=3"]), tmp_path)

    summaries = [json.loads((tmp_path / f"fold_{i}" / "summary.json").read_text()) for i in (1, 2, 3)]
    best = pd.Series([s["best"]["val_accuracy"] for s in summaries])
    final = pd.Series([s["final"]["val_loss"] for s in summaries])
    cv = json.loads((tmp_path / "cv_summary.json").read_text())
    assert cv["metrics"]["best_val_accuracy"]["mean"] == pytest.approx(best.mean())
    assert cv["metrics"]["best_val_accuracy"]["std"] == pytest.approx(best.std())
    assert cv["metrics"]["final_val_loss"]["max"] == pytest.approx(final.max())
    table = pd.read_csv(tmp_path / "cv_summary.csv", index_col="fold")
    assert list(table.index) == ["1", "2", "3", "mean", "std", "min", "max"]
    assert table.loc["min", "best_val_accuracy"] == pytest.approx(best.min())


def test_each_fold_starts_from_fresh_weights(
    compose_fit: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fold's model, as built, equals a freshly seeded model: nothing carries over."""
    cfg = compose_fit([*QUICK, "validation=kfold", "validation.k=2", "trainer.epochs=1"])
    built, setup_model = [], training_run.setup_model

    def record(*args: object) -> torch.nn.Module:
        model = setup_model(*args)
        built.append(next(v for k, v in model.state_dict().items() if k.endswith("weight")).clone())
        return model

    monkeypatch.setattr(training_run, "setup_model", record)
    fit.run(cfg, tmp_path)

    torch.manual_seed(cfg.seed)
    fresh = torch.nn.Linear(4, 16).weight  # the MLP's first layer is built first
    assert len(built) == 2 and all(torch.equal(first, fresh) for first in built)


def test_kfold_regression_uses_kfold(compose_fit: Compose, tmp_path: Path) -> None:
    cfg = compose_fit(["dataset=diabetes", "loss=mse", "metric=[mae]", "trainer.epochs=1", "validation=kfold",
                       "validation.k=2"])  # fmt: skip

    cv = fit.run(cfg, tmp_path)

    assert "best_val_mae" in cv["metrics"] and cv["k"] == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("validation.k=1", "k-fold needs validation.k >= 2, got 1"),
        ("validation.k=151", "validation.k=151 is more than the 150 rows"),
        ("validation.k=51", "more than the 50 rows of the rarest class"),
    ],
)
def test_bad_k_is_a_config_error_naming_the_limit(compose_fit: Compose, tmp_path: Path, override: str,
                                                   message: str) -> None:  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        fit.run(compose_fit([*QUICK, "validation=kfold", override]), tmp_path)


def test_test_split_is_held_out_and_scored_with_the_best_weights(
    compose_fit: Compose, tmp_path: Path
) -> None:
    cfg = compose_fit([*QUICK, "dataset.test_fraction=0.2", "trainer.epochs=5"])

    summary = fit.run(cfg, tmp_path)

    assert summary["data"]["test_rows"] == 30 and summary["data"]["val_rows"] == 24
    assert summary["data"]["train_rows"] == 96
    assert set(summary["test"]) == {"test_loss", "test_accuracy"}
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_bad_test_fraction_is_a_config_error(compose_fit: Compose, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dataset.test_fraction must be >= 0 and < 1"):
        fit.run(compose_fit([*QUICK, "dataset.test_fraction=1.5"]), tmp_path)


@pytest.mark.slow  # a minute of subprocesses; the default suite keeps a shorter walk
def test_kfold_from_the_command_line_ends_with_the_fold_table(tmp_path: Path) -> None:
    from tests.conftest import mltrain

    result = mltrain("fit", "dataset=iris", "validation=kfold", "validation.k=2", "trainer.epochs=1",
                     f"hydra.run.dir={tmp_path / 'cv'}", cwd=tmp_path)  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines[-1].endswith(f"completed: k-fold, 2 folds -> {tmp_path / 'cv'}")  # what run= and report take
    assert lines[-2].startswith("mean") and "±" in lines[-2]
    assert lines[-4].split()[0] == "1" and lines[-3].split()[0] == "2"
    assert (tmp_path / "cv" / "cv_summary.csv").is_file() and (
        tmp_path / "cv" / "fold_2" / "model.pt"
    ).is_file()


def test_fit_start_up_imports_neither_matplotlib_nor_sklearn_nor_a_tracker() -> None:
    import subprocess
    import sys

    heavy = "{'matplotlib', 'sklearn', 'mlflow', 'tensorboard', 'torch.utils.tensorboard'}"  # logger=[]: none
    modules = "mltrain.commands.fit, mltrain.commands.kfold"
    code = f"import sys, {modules}; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
