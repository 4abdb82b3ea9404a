"""The installed command, run as a user runs it: ``python -m mltrain fit ...`` in a subprocess.

Asserts on the files a run writes and, for bad input, on the exit status and the one-line message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mltrain, write_penguins

KERAS_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time_s"]


@pytest.mark.slow  # a minute of subprocesses; the default suite keeps a shorter walk
def test_default_fit_reaches_095_and_writes_every_file(tmp_path: Path) -> None:
    result = mltrain("fit", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    for name in ("config.yaml", "history.csv", "history.json", "summary.json", "preprocessing.json"):
        assert (run / name).is_file(), name
    assert (run / ".hydra" / "overrides.yaml").is_file()
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == KERAS_COLUMNS
    assert list(history.epoch) == list(range(1, 21))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["best"]["val_accuracy"] >= 0.95
    assert summary["best_epoch"] == int(history.loc[history.val_loss.idxmin(), "epoch"])
    assert summary["versions"]["torch"]
    keras = json.loads((run / "history.json").read_text())
    assert keras["epoch"] == list(range(1, 21)) and keras["history"]["val_loss"] == list(history.val_loss)
    assert "epoch 20/20" in result.stdout and "\x1b[" not in result.stdout  # plain lines when not a TTY


def test_smoke_run_writes_every_file_with_one_short_epoch(tmp_path: Path) -> None:
    result = mltrain("fit", "debug=smoke", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs" / "fit").iterdir()
    assert run.name.endswith("_debug-smoke")
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 1


@pytest.mark.slow  # subprocess runs: the default suite's budget (test_flow.py walks the same path)
def test_csv_with_string_labels_and_a_categorical_column(tmp_path: Path) -> None:
    data = write_penguins(tmp_path / "penguins.csv")
    result = mltrain(
        "fit", "dataset=csv", f"dataset.path={data}", "dataset.target=species",
        "loss=sparse_categorical_crossentropy", "metric=[accuracy,f1]", "trainer.epochs=15",
        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["data"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert summary["best"]["val_accuracy"] > 0.9
    state = json.loads((tmp_path / "run" / "preprocessing.json").read_text())
    assert state["categories"] == {"island": ["Biscoe", "Dream", "Torgersen"]}
    assert summary["data"]["features"] == 3 + 3  # three numeric columns, three one-hot island columns


BAD_INPUTS = [
    (["optimizer=adamm"], ["optimizer=adamm", "adagrad, adam", "did you mean adam"]),
    pytest.param(  # in-process: tests/test_config.py
        ["trainer.epocs=3"], ["trainer.epocs", "did you mean epochs"], marks=pytest.mark.slow
    ),
    (["trainer.epochs=abc"], ["trainer.epochs", "abc"]),
    (
        ["loss=bce"],
        ["loss=bce needs a binary target", "10 classes", "use loss=sparse_categorical_crossentropy"],
    ),
    (["metric=[mae]"], ["metric=mae", "use metric=[accuracy"]),
    (["metric=[accurracy]"], ["metric=accurracy", "did you mean accuracy"]),
    (["dataset=csv"], ["dataset.path is required", "dataset.target is required"]),
    (["dataset=csv", "dataset.path=nope.csv", "dataset.target=y"], ["dataset.path=nope.csv", "no such file"]),
    pytest.param(  # in-process: tests/test_config.py
        ["trainer.batch_size=0", "trainer.epochs=-1", "model.hidden=[0]", "loss=bce"],
        ["4 problems", "trainer.batch_size", "trainer.epochs", "model.hidden=[0]", "loss=bce"],
        marks=pytest.mark.slow,
    ),
    pytest.param(  # in-process: tests/components/test_registry.py
        ["model=cnn", "dataset=iris"], ["model=cnn needs image-shaped data"], marks=pytest.mark.slow
    ),
    (["trainer.device=tpu"], ["trainer.device=tpu is not valid", "auto, cpu, cuda"]),
]


@pytest.mark.parametrize(
    ("args", "expected"), BAD_INPUTS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_bad_input_exits_2_with_one_clear_message(
    tmp_path: Path,
    args: list[str],
    expected: list[str],
    in_process: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # cli.main in this process: a subprocess adds nothing to the message
    returncode, stderr = in_process(["fit", *args], tmp_path)
    assert returncode == 2, stderr
    assert "Traceback" not in stderr and "Error executing job" not in stderr
    assert stderr.startswith("error: ")
    for text in expected:
        assert text in stderr
    assert not (tmp_path / "runs" / "fit").exists() or not any((tmp_path / "runs" / "fit").iterdir())


def test_missing_values_are_named_with_counts(
    tmp_path: Path, in_process: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_penguins(tmp_path / "p.csv", missing=True)
    args = ["fit", "dataset=csv", f"dataset.path={data}", "dataset.target=species"]
    returncode, stderr = in_process([*args, "dataset.features=[island,bill_depth,flipperlength]"], tmp_path)
    assert returncode == 2
    assert "'bill_depth' (3 rows)" in stderr and "dataset.missing=drop" in stderr
    assert "column 'flipperlength' is not in p.csv" in stderr  # reported in the same message


@pytest.mark.slow  # subprocess runs: the default suite's budget (test_flow.py walks the same path)
def test_diverging_run_keeps_history_and_exits_3(tmp_path: Path) -> None:
    args = ("optimizer=sgd", "optimizer.lr=1e12", "trainer.epochs=5", f"hydra.run.dir={tmp_path / 'run'}")
    result = mltrain("fit", *args, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "diverged" and "epoch 1, batch" in summary["message"]
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 1


def test_dispatcher_help_version_and_unknown_command(tmp_path: Path) -> None:
    assert mltrain("--help", cwd=tmp_path).returncode == 0
    unknown = mltrain("fitt", cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean fit" in unknown.stderr
    groups = mltrain("fit", "--help", cwd=tmp_path)
    assert groups.returncode == 0 and "optimizer: adagrad, adam" in groups.stdout


def test_tab_completion_through_the_subcommand(tmp_path: Path) -> None:
    env = {"COMP_LINE": "mltrain fit optimizer=", "COMP_POINT": "22"}
    result = mltrain("-sc", "query=bash", cwd=tmp_path, env=env)
    assert "optimizer=nadam" in result.stdout.split()
    assert mltrain("-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "mltrain f"}).stdout.split() == [
        "fit"
    ]


@pytest.mark.slow  # subprocess runs: the default suite's budget (test_flow.py walks the same path)
def test_own_config_folder_with_cd(tmp_path: Path) -> None:
    data = write_penguins(tmp_path / "penguins.csv")
    (tmp_path / "myconf" / "dataset").mkdir(parents=True)
    preset = f"name: csv\npath: {data}\ntarget: species\nfeatures: null\nmissing: error\nsep: ','\n"
    (tmp_path / "myconf" / "dataset" / "penguins.yaml").write_text(preset)
    result = mltrain(
        "fit", "-cd", "myconf", "dataset=penguins", "debug=smoke", "hydra.run.dir=run", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["data"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]


def test_a_failed_write_stops_the_run_with_one_message_and_keeps_earlier_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mltrain import cli
    from mltrain.training.callbacks import writers as history

    real, calls = history.atomic_write_text, []

    def disk_full_at_epoch_3(path: Path, text: str) -> None:
        if Path(path).name == "history.csv":
            calls.append(path)
            if len(calls) == 3:  # epochs 1 and 2 are on disk; the third epoch's rewrite fails
                raise OSError(28, "No space left on device", str(path))
        real(path, text)

    monkeypatch.setattr(history, "atomic_write_text", disk_full_at_epoch_3)
    monkeypatch.setattr(sys, "argv", ["mltrain"])
    with pytest.raises(SystemExit) as stopped:
        cli.main(["fit", "dataset=iris", "trainer.epochs=5", f"hydra.run.dir={tmp_path / 'run'}"])
    assert stopped.value.code == cli.EXIT_IO
    err = capsys.readouterr().err
    assert "cannot write" in err and "No space left on device" in err and "Traceback" not in err
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 2  # the last complete file stands
