"""``mltrain evaluate`` and ``mltrain predict`` on runs fitted here: agreement with sklearn, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from sklearn.metrics import accuracy_score, mean_absolute_error

from mltrain.commands import evaluate, predict
from mltrain.errors import ConfigError, DataError
from tests.conftest import fit_run, mltrain, write_penguins


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A penguins CSV (string labels, a categorical column) and a run fitted on it with a test split."""
    root = tmp_path_factory.mktemp("penguins")
    data = write_penguins(root / "penguins.csv")
    run = fit_run(root / "run", ["dataset=csv", f"dataset.path={data}", "dataset.target=species",
                                 "dataset.test_fraction=0.2", "metric=[accuracy,f1]"])  # fmt: skip
    return data, run


def test_evaluate_on_held_out_rows_reproduces_the_training_time_test_metrics(
    penguins: tuple[Path, Path], tmp_path: Path
) -> None:
    _, run = penguins
    result = evaluate.run(OmegaConf.create({"run": str(run), "input": None, "max_drop": 0.0}), tmp_path)

    test = json.loads((run / "summary.json").read_text())["test"]
    assert result["metrics"]["accuracy"] == pytest.approx(test["test_accuracy"])
    assert result["metrics"]["loss"] == pytest.approx(test["test_loss"], rel=1e-5)
    assert result["failed"] == [] and result["rows"] == 60
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert sum(map(sum, saved["confusion_matrix"])) == 60
    assert set(saved["report"]) >= {"Adelie", "Chinstrap", "Gentoo", "macro avg", "weighted avg"}
    assert (tmp_path / "plots" / "confusion_matrix.png").stat().st_size > 5000


def test_predict_then_evaluate_agree_with_sklearn(penguins: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = penguins
    shuffled = pd.read_csv(data).sample(frac=1.0, axis=1, random_state=0).assign(extra="x", row=range(300))
    shuffled.to_csv(tmp_path / "new.csv", index=False)  # columns in another order, an extra column
    cfg = {"run": str(run), "input": str(tmp_path / "new.csv"), "output": str(tmp_path / "p.csv"),
           "id": "row", "chunksize": 64}  # fmt: skip

    predict.run(OmegaConf.create(cfg), tmp_path)
    result = evaluate.run(
        OmegaConf.create({"run": str(run), "input": cfg["input"], "max_drop": None}), tmp_path
    )

    out = pd.read_csv(tmp_path / "p.csv")
    assert list(out.columns) == ["row", "prediction", "prob_Adelie", "prob_Chinstrap", "prob_Gentoo"]
    assert list(out.row) == list(range(300))  # every chunk, in order
    assert out.filter(like="prob_").sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert accuracy_score(shuffled.species, out.prediction) == pytest.approx(result["metrics"]["accuracy"])


def test_kfold_parent_predicts_with_the_mean_of_its_folds(tmp_path: Path) -> None:
    run = fit_run(tmp_path / "cv", ["dataset=diabetes", "loss=mse", "metric=[mae]", "validation=kfold",
                                    "validation.k=2"])  # fmt: skip
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame.to_csv(tmp_path / "d.csv", index=False)
    args = {"run": str(run), "input": str(tmp_path / "d.csv"), "id": None, "chunksize": 1000}

    predict.run(OmegaConf.create(args | {"output": str(tmp_path / "all.csv")}), tmp_path)
    folds = []
    for i in (1, 2):
        one = args | {"run": str(run / f"fold_{i}"), "output": str(tmp_path / f"{i}.csv")}
        predict.run(OmegaConf.create(one), tmp_path)
        folds.append(pd.read_csv(tmp_path / f"{i}.csv").prediction)
    ensemble = pd.read_csv(tmp_path / "all.csv").prediction
    assert ensemble.to_numpy() == pytest.approx(((folds[0] + folds[1]) / 2).to_numpy(), rel=1e-4)
    result = evaluate.run(
        OmegaConf.create({"run": str(run), "input": args["input"], "max_drop": None}), tmp_path
    )
    assert result["metrics"]["mae"] == pytest.approx(mean_absolute_error(frame.target, ensemble), rel=1e-4)


def test_bad_inputs_are_user_errors_naming_the_problem(penguins: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = penguins
    frame = pd.read_csv(data)
    frame.drop(columns="bill_depth").to_csv(tmp_path / "no_col.csv", index=False)
    base = {"run": str(run), "output": str(tmp_path / "p.csv"), "id": None, "chunksize": 100}

    with pytest.raises(DataError, match="no column 'bill_depth'"):
        predict.run(OmegaConf.create(base | {"input": str(tmp_path / "no_col.csv")}), tmp_path)
    with pytest.raises(ConfigError, match="has no model.pt"):
        predict.run(OmegaConf.create(base | {"run": str(tmp_path), "input": str(data)}), tmp_path)


@pytest.mark.slow  # a minute of subprocesses; the default suite keeps a shorter walk
def test_commands_exit_2_on_bad_input_and_3_on_a_metric_drop(
    penguins: tuple[Path, Path], tmp_path: Path
) -> None:
    data, run = penguins
    missing = mltrain("predict", f"run={tmp_path}", f"input={data}", "output=p.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "has no model.pt" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr
    typo = mltrain("evaluate", f"run={run}", "max_dorp=0.1", cwd=tmp_path)
    assert (
        typo.returncode == 2
        and "valid keys of the config: run, input, max_drop, trust_code; did you mean max_drop?"
        in typo.stderr
    )
    frame = pd.read_csv(data)
    frame.assign(species=frame.species.sample(frac=1.0, random_state=1).to_numpy()).to_csv(
        tmp_path / "shuffled.csv", index=False
    )  # labels scrambled: accuracy falls far below training time
    dropped = mltrain("evaluate", f"run={run}", "input=shuffled.csv", "max_drop=0.05", cwd=tmp_path)
    assert dropped.returncode == 3, dropped.stderr
    assert "accuracy" in dropped.stderr and "max_drop=0.05" in dropped.stderr


def test_predict_and_evaluate_read_new_rows_as_the_run_read_its_csv(tmp_path: Path) -> None:
    """A run trained with ``dataset.sep=';'`` and ``dataset.na_values=[unknown]`` takes the same raw file."""
    frame = pd.read_csv(write_penguins(tmp_path / "p.csv"))
    frame["bill_depth"] = frame.bill_depth.astype(object).where(frame.index % 7 != 3, "unknown")
    frame.to_csv(tmp_path / "p.csv", sep=";", index=False)
    args = ["dataset=csv", f"dataset.path={tmp_path / 'p.csv'}", "dataset.target=species", "dataset.sep=';'",
            "dataset.na_values=[unknown]", "dataset.missing=impute", "trainer.epochs=1"]  # fmt: skip
    run = fit_run(tmp_path / "run", args)

    cfg = {"run": str(run), "input": str(tmp_path / "p.csv"), "output": str(tmp_path / "out.csv"),
           "id": None, "chunksize": 100}  # fmt: skip
    assert predict.run(OmegaConf.create(cfg), tmp_path)["rows"] == 300
    result = evaluate.run(
        OmegaConf.create({"run": str(run), "input": cfg["input"], "max_drop": None}), tmp_path
    )
    assert result["rows"] == 300


def test_unseen_categories_are_all_zeros_with_one_warning_everywhere(
    penguins: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: predict and evaluate refused the rows ("has categories the model never saw") while fit
    scored its test split and the ONNX export encoded them as all zeros."""
    data, run = penguins
    frame = pd.read_csv(data)
    frame.loc[[5, 150, 250], "island"] = ["Kern", "Kern", "Atlantis"]  # in three different chunks
    frame.to_csv(tmp_path / "new.csv", index=False)
    cfg = {"run": str(run), "input": str(tmp_path / "new.csv"), "output": str(tmp_path / "p.csv"),
           "id": None, "chunksize": 100}  # fmt: skip
    line = (f"input={tmp_path / 'new.csv'}: column 'island' has 3 rows with categories the model never saw "
            "(e.g. 'Kern'); they are encoded as all zeros")  # fmt: skip

    predict.run(OmegaConf.create(cfg), tmp_path)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [line]
    caplog.clear()
    result = evaluate.run(
        OmegaConf.create({"run": str(run), "input": cfg["input"], "max_drop": None}), tmp_path
    )
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [line]
    assert result["rows"] == 300

    out = pd.read_csv(tmp_path / "p.csv")
    ort = pytest.importorskip("onnxruntime")
    from mltrain.commands import export

    model = export.run(OmegaConf.create({"run": str(run), "format": "onnx", "output": None}), tmp_path)
    session = ort.InferenceSession(model["output"])
    feed = {i.name: (frame[i.name].to_numpy(np.float64) if i.type == "tensor(double)"
                     else frame[i.name].astype(str).to_numpy(object)).reshape(-1, 1)
            for i in session.get_inputs()}  # fmt: skip
    probabilities = session.run(["probabilities"], feed)[0]
    assert out.filter(like="prob_").to_numpy() == pytest.approx(probabilities, abs=1e-5)


def test_fit_warns_of_unseen_categories_in_its_test_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frame = pd.read_csv(write_penguins(tmp_path / "p.csv"))
    frame.loc[:19, "island"] = [f"K{i}" for i in range(20)]  # one row each: those in the test rows are unseen
    frame.to_csv(tmp_path / "p.csv", index=False)
    args = ["dataset=csv", f"dataset.path={tmp_path / 'p.csv'}", "dataset.target=species",
            "dataset.test_fraction=0.5", "validation=none", "trainer.epochs=1"]  # fmt: skip
    fit_run(tmp_path / "run", args)
    warnings = [r.getMessage() for r in caplog.records if "never saw" in r.getMessage()]
    assert len(warnings) == 1 and "the test rows: column 'island' has" in warnings[0], warnings


def test_evaluate_counts_the_rows_it_scored_and_says_where_it_wrote(
    penguins: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: ``rows`` was the file's row count, though rows without a label are not scored."""
    data, run = penguins
    frame = pd.read_csv(data)
    frame.loc[:9, "species"] = None
    frame.to_csv(tmp_path / "new.csv", index=False)
    caplog.set_level("INFO")
    cfg = {"run": str(run), "input": str(tmp_path / "new.csv"), "max_drop": None}
    result = evaluate.run(OmegaConf.create(cfg), tmp_path / "out")

    assert result["rows"] == 290 and result["file_rows"] == 300
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["rows"] == 290
    messages = [r.getMessage() for r in caplog.records]
    assert any("(290 rows scored of 300)" in m for m in messages)
    assert f"wrote {tmp_path / 'out' / 'evaluation.json'}" in messages
