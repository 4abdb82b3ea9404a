"""The Python API (``mltrain.fit`` / ``mltrain.load`` / ``Run``): the command's runs, files and messages.

Runs are tiny (2 epochs, 8 hidden units) in a temporary working directory, so ``runs/fit/<name>`` is named
as the command names it. Predictions are checked against ``mltrain predict`` run in a subprocess, metrics
against scikit-learn computed from those predictions.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss

import mltrain
from mltrain.config.overrides import keyword_overrides, override_string, override_value
from mltrain.data.datasets import DATASETS
from mltrain.rundir import read_overrides, slug
from tests.conftest import mltrain as mltrain_command
from tests.conftest import write_penguins
from tests.manual import MANUAL

ROOT = Path(__file__).resolve().parents[1]
TINY = {"trainer": {"epochs": 2}, "model": {"hidden": [8]}}
PENGUIN_OVERRIDES = ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species",
                     "metric=[accuracy,f1]", "trainer.epochs=2", "model.hidden=[8]"]  # fmt: skip


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, mltrain.Run]:
    """A working directory with penguins.csv and a run fitted there with keyword arguments."""
    root = tmp_path_factory.mktemp("api")
    write_penguins(root / "penguins.csv")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        run = mltrain.fit(
            dataset={"name": "csv", "path": "penguins.csv", "target": "species"},
            metric=["accuracy", "f1"],
            **TINY,
        )
    return root, run


def test_fit_with_keywords_writes_the_command_s_run_directory(penguins: tuple[Path, mltrain.Run]) -> None:
    root, run = penguins
    path = root / run.path
    assert run.path.parent == Path("runs/fit")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_" + re.escape(slug(PENGUIN_OVERRIDES)), run.path.name
    )
    assert read_overrides(path) == PENGUIN_OVERRIDES  # what `mltrain report` shows
    assert OmegaConf.load(path / ".hydra" / "config.yaml").dataset.path == "penguins.csv"
    pd.testing.assert_frame_equal(run.history, pd.read_csv(path / "history.csv"))
    assert list(run.history.epoch) == [1, 2]
    assert run.summary == json.loads((path / "summary.json").read_text())
    assert run.status == "completed" and run.config.metric.f1.average == "macro"
    log = (path / "fit.log").read_text()
    assert "][INFO] epoch 2/2  loss" in log and "completed" in log


def test_load_gives_the_same_run(penguins: tuple[Path, mltrain.Run], monkeypatch: pytest.MonkeyPatch) -> None:
    root, run = penguins
    monkeypatch.chdir(root)
    loaded = mltrain.load(str(run.path))
    assert type(loaded) is type(run) and loaded.path == run.path and repr(loaded) == repr(run)
    assert loaded.summary == run.summary and loaded.folds == [] and run.folds == []
    pd.testing.assert_frame_equal(loaded.history, run.history)
    assert OmegaConf.to_container(loaded.config) == OmegaConf.to_container(run.config)


def test_override_strings_give_the_same_run_in_a_new_directory(
    penguins: tuple[Path, mltrain.Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, run = penguins
    monkeypatch.chdir(root)
    handlers, level = list(logging.getLogger().handlers), logging.getLogger("mltrain").level

    again = mltrain.fit(*PENGUIN_OVERRIDES)

    assert again.path != run.path and again.path.name.startswith(run.path.name[:10])
    assert (again.path / "config.yaml").read_text() == (run.path / "config.yaml").read_text()
    assert read_overrides(again.path) == PENGUIN_OVERRIDES
    numbers = [c for c in run.history.columns if c != "time_s"]
    pd.testing.assert_frame_equal(again.history[numbers], run.history[numbers])  # same seed, same numbers
    assert logging.getLogger().handlers == handlers and logging.getLogger("mltrain").level == level


def test_predict_equals_the_command_and_evaluate_equals_sklearn(
    penguins: tuple[Path, mltrain.Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, run = penguins
    monkeypatch.chdir(root)
    frame = pd.read_csv("penguins.csv").sample(frac=1.0, axis=1, random_state=0).assign(row=range(300))
    frame.index = frame.index + 1000
    frame.to_csv("new.csv", index=False)
    command = mltrain_command(
        "predict", f"run={run.path}", "input=new.csv", "output=p.csv", "id=row", cwd=root
    )
    assert command.returncode == 0, command.stderr

    predicted = run.predict(frame, id="row")

    assert list(predicted.index) == list(frame.index)
    pd.testing.assert_frame_equal(
        predicted.reset_index(drop=True), pd.read_csv("p.csv"), check_dtype=False, rtol=1e-6
    )
    result = run.evaluate(frame)
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    probabilities = predicted[[f"prob_{c}" for c in classes]].to_numpy()
    assert result["classes"] == classes and result["models"] == 1 and result["input"] == "the frame"
    assert result["metrics"]["accuracy"] == pytest.approx(accuracy_score(frame.species, predicted.prediction))
    assert result["metrics"]["f1"] == pytest.approx(
        f1_score(frame.species, predicted.prediction, average="macro")
    )
    assert result["metrics"]["loss"] == pytest.approx(
        log_loss(frame.species, probabilities, labels=classes), rel=1e-5
    )
    assert (
        result["confusion_matrix"]
        == confusion_matrix(frame.species, predicted.prediction, labels=classes).tolist()
    )
    assert run.evaluate("new.csv")["metrics"] == pytest.approx(result["metrics"])
    held_out = run.evaluate()  # the run's validation rows, rebuilt from its config and seed
    assert held_out["rows"] == run.summary["data"]["val_rows"]
    assert held_out["metrics"]["accuracy"] == pytest.approx(run.summary["best"]["val_accuracy"])
    assert not Path("runs/evaluate").exists()  # evaluate writes nothing


def readme_errors() -> list[tuple[str, str]]:
    """``$ mltrain fit ...`` examples of the README and the message under each (checked against the
    command by tests/test_readme.py); not the sweeps' (``-m``), which only the command runs."""
    found = []
    for block in re.findall(r"```text\n(\$ mltrain.*?)```", MANUAL, flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *lines = chunk.strip().splitlines()
            if command.startswith("mltrain fit ") and " -m " not in f"{command} ":
                found.append((command, "\n".join(lines).removeprefix("error: ")))
    return list(dict.fromkeys(found))  # an example shown on two pages is checked once


@pytest.mark.parametrize(("command", "message"), readme_errors())
def test_user_errors_raise_user_error_with_the_command_s_message(
    command: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mltrain.UserError) as error:
        mltrain.fit(*command.split()[2:])
    assert str(error.value) == message
    assert not Path("runs").exists() or not any(Path("runs/fit").iterdir())  # a refused run leaves nothing


def test_keyword_errors_read_as_the_command_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    command = mltrain_command("fit", "trainer.epochs=abc", cwd=tmp_path)
    assert command.returncode == 2
    with pytest.raises(mltrain.UserError) as error:
        mltrain.fit(trainer={"epochs": "abc"})
    assert command.stderr.strip() == f"error: {error.value}"
    with pytest.raises(mltrain.UserError, match="trainer.batch_size must be >= 1, got 0"):
        mltrain.fit(trainer={"batch_size": 0}, model={"hidden": [0]}, loss="bce")
    with pytest.raises(mltrain.UserError, match="trainer.epoch is not a config key.*did you mean epochs"):
        mltrain.fit(trainer={"epoch": 3})
    with pytest.raises(mltrain.UserError, match="sweeps"):
        mltrain.fit("-m", "optimizer=adam,sgd")
    with pytest.raises(mltrain.UserError, match="no such run directory"):
        mltrain.load("runs/fit/nothing")
    assert not any(Path("runs/fit").iterdir())  # refused runs leave no directory behind


def test_nan_and_infinity_from_python_get_the_command_s_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mltrain.UserError, match=r"optimizer.lr must be > 0, got nan"):
        mltrain.fit(optimizer={"lr": float("nan")})
    with pytest.raises(mltrain.UserError) as error:
        mltrain.fit(seed=-1, trainer={"grad_clip": float("inf")})
    assert error.value.problems == [
        "seed must be a whole number from 0 to 4294967295 (2**32 - 1), got -1",
        "trainer.grad_clip must be a finite number > 0 or null, got inf",
    ]
    assert not any(Path("runs/fit").iterdir())  # refused runs leave no directory behind


def test_bad_rows_raise_user_error_naming_the_column(penguins: tuple[Path, mltrain.Run]) -> None:
    root, run = penguins
    frame = pd.read_csv(root / "penguins.csv")
    with pytest.raises(mltrain.UserError, match="the frame has no column 'bill_depth'"):
        run.predict(frame.drop(columns="bill_depth"))
    assert run.evaluate(frame.assign(island="Atlantis"))["rows"] == len(frame)  # all zeros, with a warning
    with pytest.raises(mltrain.UserError, match="input=missing.csv: no such file"):
        run.predict("missing.csv")


def test_kfold_run_loads_as_an_ensemble_of_its_folds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = mltrain.fit(dataset="iris", validation={"name": "kfold", "k": 2}, trainer={"epochs": 1},
                      model={"hidden": [8]})  # fmt: skip
    assert read_overrides(run.path) == ["dataset=iris", "validation=kfold", "validation.k=2",
                                        "trainer.epochs=1", "model.hidden=[8]"]  # fmt: skip
    assert run.summary == json.loads((run.path / "cv_summary.json").read_text())
    assert [f.path for f in mltrain.load(run.path).folds] == [run.path / "fold_1", run.path / "fold_2"]
    assert list(run.history.fold) == [1, 2]
    frame = DATASETS.get("iris")().frame

    both, folds = run.predict(frame), [f.predict(frame) for f in run.folds]

    probabilities = [c for c in both.columns if c.startswith("prob_")]
    mean = (folds[0][probabilities] + folds[1][probabilities]) / 2
    np.testing.assert_allclose(both[probabilities].to_numpy(), mean.to_numpy(), atol=1e-6)
    assert run.evaluate(frame)["models"] == 2
    with pytest.raises(mltrain.UserError, match="k-fold run has no common held-out rows"):
        run.evaluate()


def test_a_diverged_run_is_returned_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    run = mltrain.fit(dataset="iris", optimizer={"name": "sgd", "lr": 1e12}, **TINY)
    assert run.status == "diverged" and "at epoch 1" in run.summary["message"]
    assert len(run.history) == 1
    assert f"run diverged: {run.summary['message']}; history so far is in {run.path}" in caplog.text


@pytest.mark.slow
def test_run_dir_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = mltrain.fit(dataset="iris", trainer={"epochs": 1}, model={"hidden": [8]}, run_dir="my run")
    assert first.path == Path("my run") and list(first.history.epoch) == [1]

    longer = mltrain.fit(dataset="iris", trainer={"epochs": 2}, model={"hidden": [8]}, resume="my run")

    assert longer.path == Path("my run") and list(longer.history.epoch) == [1, 2]
    assert read_overrides("my run") == ["dataset=iris", "trainer.epochs=1", "model.hidden=[8]"]  # as started
    further = mltrain.fit(trainer={"epochs": 3}, resume="my run")  # the run's own overrides come back
    assert list(further.history.epoch) == [1, 2, 3] and further.summary["data"]["features"] == 4
    assert not Path("runs").exists()


def test_keyword_arguments_become_the_command_s_overrides() -> None:
    overrides = keyword_overrides({
        "optimizer": "nadam", "trainer": {"epochs": np.int64(30), "grad_clip": None, "deterministic": True},
        "metric": ["accuracy", "f1"], "optimizer.lr": 3e-3,
        "dataset": {"name": "csv", "path": "my data/x,y's.csv", "target": "1", "features": ["a b", "c"]},
    })  # fmt: skip
    assert overrides[:6] == [
        "optimizer=nadam", "trainer.epochs=30", "trainer.grad_clip=null", "trainer.deterministic=true",
        "metric=[accuracy,f1]", "optimizer.lr=0.003",
    ]  # fmt: skip
    assert overrides[6] == "dataset=csv"
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(overrides[7:])}
    assert parsed == {
        "dataset.path": "my data/x,y's.csv",
        "dataset.target": "1",
        "dataset.features": ["a b", "c"],
    }
    assert override_value(float("nan"), "k") == "nan" and override_value(Path("d/x.csv"), "k") == "d/x.csv"
    assert override_string("resume=runs/fit/a,b") == "resume='runs/fit/a,b'"
    for bad in (3, "hydra.run.dir=x", "hydra/sweeper=optuna", "--multirun"):
        with pytest.raises(mltrain.UserError):
            override_string(bad)
    with pytest.raises(mltrain.UserError, match="model.hidden=<object.*cannot be a config value"):
        keyword_overrides({"model": {"hidden": object()}})


def test_import_mltrain_loads_neither_torch_nor_hydra() -> None:
    code = (
        "import mltrain, sys; mltrain.UserError; "
        "print([m for m in ('torch', 'hydra', 'pandas') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.slow  # two breast_cancer runs: about 5 s of CPU
def test_readme_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = (ROOT / "docs" / "python-api.md").read_text()  # the Python API page's example, as printed
    example = re.search(r"```python\n(.*?)```", page, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)

    exec(compile(example, "docs/python-api.md", "exec"), {})

    printed = capsys.readouterr().out
    assert "optimizer=adamm is not a choice; valid: adagrad, adam" in printed
    assert "did you mean adam?" in printed
    assert re.search(
        r"Run\('runs/fit/[\d_-]+_optimizer-nadam_loss-bce_dataset-breast_cancer_epochs-5'", printed
    )
    assert len(list(Path("runs/fit").iterdir())) == 2
