"""Damaged run files: each is one ``DataError`` naming the file, for every command that reads a run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mltrain.cli import main
from mltrain.errors import DataError
from mltrain.serving.saved_model import load_run
from tests.conftest import fit_run, write_penguins


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A penguins CSV and a run fitted on it (a categorical column, string labels, a test split)."""
    root = tmp_path_factory.mktemp("saved")
    data = write_penguins(root / "penguins.csv")
    run = fit_run(root / "run", ["dataset=csv", f"dataset.path={data}", "dataset.target=species",
                                 "dataset.test_fraction=0.2", "trainer.epochs=2"])  # fmt: skip
    return data, run


DROP = object()  # a field left out


def _change(name: str, key: str, value: object) -> Callable[[Path], None]:
    """Set ``key`` (dotted; a number indexes a list) of run file ``name`` to ``value``, or drop it."""

    def damage(run: Path) -> None:
        yaml_file = name.endswith(".yaml")
        text = (run / name).read_text()
        state = yaml.safe_load(text) if yaml_file else json.loads(text)
        *parents, last = [int(k) if k.isdigit() else k for k in key.split(".")]
        node = state
        for k in parents:
            node = node[k]
        if value is DROP:
            del node[last]
        elif last == "":
            state = value
        else:
            node[last] = value
        (run / name).write_text(yaml.safe_dump(state) if yaml_file else json.dumps(state))

    return damage


PRE, SUMMARY, CONFIG = "preprocessing.json", "summary.json", "config.yaml"
DAMAGE = {  # file, the key changed, its new value, what the message says
    "zero scale": (PRE, "scale.0", 0, "scale[0] (column 'bill_length') is 0"),
    "NaN mean": (PRE, "mean.0", float("nan"), "mean[0] (column 'bill_length') is nan"),
    "short scale": (PRE, "scale.2", DROP, "scale must hold one number per numeric column (3)"),
    "text mean": (PRE, "mean.1", "x", "mean[1] (column 'bill_depth') is 'x'"),
    "no mean": (PRE, "mean", DROP, "fields missing: ['mean']"),
    "categories as a list": (PRE, "categories", ["Biscoe"], "categories must map each categorical column"),
    "numeric not a feature": (PRE, "numeric.0", "zzz", "must split features"),
    "classes as text": (PRE, "classes", "abc", "classes='abc' must be a non-empty list"),
    "float32 a number": (PRE, "float32", 3, "float32=3 must list numeric columns"),
    "text fill": (PRE, "fill", {"bill_length": "x"}, "fill['bill_length']='x' must be a finite number"),
    "unknown scaling": (PRE, "scaling", "rank", "scaling='rank' must be standard, robust or quantile"),
    "quantile without knots": (PRE, "scaling", "quantile", "quantiles must be given for every numeric"),
    "knots of another column": (PRE, "quantiles", {"zzz": [1.0]}, "quantiles must be given for every"),
    "summary a list": (SUMMARY, "", [], "a JSON list, not an object"),
    "summary data text": (SUMMARY, "data", "x", "data='x' must be an object"),
    "input_shape a number": (SUMMARY, "data.input_shape", 5, "data.input_shape=5 must be null or a list"),
    "test metric text": (SUMMARY, "test.test_accuracy", "x", "test.test_accuracy must hold finite numbers"),
    "hidden as text": (CONFIG, "model.hidden", "abc", "model.hidden='abc' must be a list of integers"),
    "negative width": (CONFIG, "model.hidden", [-3], "negative dimension"),
    "unknown activation": (CONFIG, "model.activation", "nope", "nope"),
    "unknown model": (CONFIG, "model.name", "nope", "model=nope is not valid"),
    "unknown metric": (CONFIG, "metric", {"nope": {}}, "metric 'nope' is not a metric mltrain has"),
    "separator a number": (CONFIG, "dataset.sep", 5, "dataset.sep=5"),
    "no loss": (CONFIG, "loss", DROP, "Missing key loss"),
}


@pytest.fixture
def damaged(trained: tuple[Path, Path], tmp_path: Path) -> Callable[[Callable[[Path], None]], Path]:
    def copy(damage: Callable[[Path], None]) -> Path:
        run = tmp_path / "run"
        shutil.copytree(trained[1], run)
        damage(run)
        return run

    return copy


@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_run_file_is_one_error_naming_it(case: str, damaged: Callable) -> None:
    name, key, value, message = DAMAGE[case]
    run = damaged(_change(name, key, value))
    with pytest.raises(DataError) as error:
        load_run(run)
    assert f"{run / name} is damaged or not a file mltrain wrote" in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize("command", ["predict", "evaluate", "export", "monitor"])
def test_a_zero_scale_stops_every_command_with_exit_2_and_writes_nothing(
    command: str, trained: tuple[Path, Path], damaged: Callable, tmp_path: Path,
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Before: predict wrote NaN probabilities and one class for every row, exit 0."""
    data, _ = trained
    run = damaged(_change(PRE, "scale.0", 0))
    monkeypatch.chdir(tmp_path)
    args = {"predict": [f"input={data}", "output=p.csv"], "evaluate": [f"input={data}"],
            "export": ["format=torchscript", "output=m.pt"], "monitor": [f"input={data}"]}  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main([command, f"run={run}", *args[command]])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2
    assert err.count("\n") == 0 and "Traceback" not in err
    assert f"{run / 'preprocessing.json'} is damaged" in err
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "m.pt").exists()


PROFILE_DAMAGE = {  # the key changed, its new value, what the message says
    "a list": ("", [], "it holds no object of features"),
    "a feature left out": ("features.bill_length", DROP, "features must profile island"),
    "edges as text": ("features.bill_length.edges", "x", "edges must be finite"),
    "a share short": ("features.bill_length.fractions.0", DROP, "fractions must hold"),
    "a share above 1": ("features.bill_length.fractions.0", 7.0, "fractions must hold"),
    "no ecdf": ("features.bill_depth.ecdf", DROP, "ecdf must hold values and n"),
    "categories as a list": ("features.island.fractions", [1], "fractions must map each category"),
    "no predictions": ("predictions", DROP, "predictions must profile prediction"),
}


@pytest.mark.parametrize("case", PROFILE_DAMAGE, ids=list(PROFILE_DAMAGE))
def test_a_damaged_profile_is_one_error_naming_it(
    case: str, trained: tuple[Path, Path], damaged: Callable, tmp_path: Path
) -> None:
    from omegaconf import OmegaConf

    from mltrain.commands import monitor

    key, value, message = PROFILE_DAMAGE[case]
    run = damaged(_change("profile.json", key, value))
    cfg = {"run": str(run), "input": str(trained[0]), "max_drift": 0.25, "max_ks": None, "max_drop": None}
    with pytest.raises(DataError) as error:
        monitor.run(OmegaConf.create(cfg), tmp_path / "out")
    assert f"{run / 'profile.json'} is damaged or not a file mltrain wrote" in str(error.value)
    assert message in str(error.value)
