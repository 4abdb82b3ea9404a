"""``input=`` as CSV or Parquet (``serving/inputs.py``): the same rows give the same predictions, metrics
and drift from either kind of file, Parquet is read in chunks, and a bad file is one clear user error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import mltrain
from mltrain.commands import evaluate, monitor, predict
from mltrain.commands.fit_data import split_rows
from mltrain.commands.predict import predict_frame
from mltrain.components.losses import LOSSES
from mltrain.components.registry import options
from mltrain.config.spec import Splitting
from mltrain.data.datasets import DATASETS
from mltrain.errors import ConfigError, DataError
from mltrain.serving.inputs import input_chunks, read_input
from mltrain.serving.saved_model import load_one
from tests.conftest import fit_run, write_penguins
from tests.conftest import mltrain as run_mltrain


def write_both(frame: pd.DataFrame, stem: Path) -> tuple[Path, Path]:
    """The rows as ``<stem>.csv`` and ``<stem>.parquet`` (row groups of 50, so batches cross them)."""
    csv, parquet = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False, row_group_size=50)
    return csv, parquet


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """The penguins rows as pandas reads their CSV (float64), and a run fitted on them as Parquet, with a
    test split (so training read the numbers as float32)."""
    root = tmp_path_factory.mktemp("parquet_input")
    frame = pd.read_csv(write_penguins(root / "p.csv"))
    frame.to_parquet(root / "train.parquet")
    run = fit_run(root / "run", ["dataset=csv", f"dataset.path={root / 'train.parquet'}", "trainer.epochs=2",
                                 "dataset.target=species", "dataset.test_fraction=0.2"])  # fmt: skip
    return frame, run


def predicted(run: Path, data: Path, out: Path, chunksize: int = 10000, id: str | None = "row") -> str:
    cfg = {"run": str(run), "input": str(data), "output": str(out), "id": id, "chunksize": chunksize}
    predict.run(OmegaConf.create(cfg), out.parent)
    return out.read_text()


def test_predict_on_parquet_equals_predict_on_the_same_rows_as_csv(penguins, tmp_path: Path) -> None:
    frame, run = penguins
    shuffled = frame.sample(frac=1.0, axis=1, random_state=0).assign(extra="x", row=np.arange(300) * 7)
    csv, parquet = write_both(shuffled, tmp_path / "new")

    from_csv = predicted(run, csv, tmp_path / "a.csv", chunksize=64)
    from_parquet = predicted(run, parquet, tmp_path / "b.csv", chunksize=64)
    predicted(run, parquet, tmp_path / "c.csv", chunksize=7)  # batches across row groups

    assert from_parquet == from_csv  # byte for byte: the same rows in the same batches
    # Other batch sizes may round the last float32 digit differently (the CPU's matmul kernels choose their
    # blocking by batch size), so the 7-row batches give the same classes and probabilities to rounding.
    sevens, out = pd.read_csv(tmp_path / "c.csv"), pd.read_csv(tmp_path / "b.csv")
    assert list(sevens.prediction) == list(out.prediction) and list(sevens.row) == list(out.row)
    labels = ["row", "prediction"]
    np.testing.assert_allclose(sevens.drop(columns=labels), out.drop(columns=labels), rtol=1e-5)
    assert list(out.row) == list(np.arange(300) * 7) and out.prediction.nunique() > 1
    api = mltrain.load(run).predict(parquet, id="row")  # the Python API reads the path the same way
    assert api.to_csv(index=False, lineterminator="\n") == from_csv


def test_evaluate_on_parquet_equals_csv_and_the_rows_as_training_read_them(penguins, tmp_path: Path) -> None:
    frame, run = penguins
    cfg = OmegaConf.load(run / "config.yaml")
    table = DATASETS.get("csv")(**options(cfg.dataset))
    test_rows = split_rows(Splitting.of(cfg), table, LOSSES.get("ce")()).test
    csv, parquet = write_both(frame.iloc[test_rows], tmp_path / "test")  # float64, as in the CSV

    def scored(data: Path | None) -> dict:
        keys = {"run": str(run), "input": data and str(data), "max_drop": None}
        return evaluate.run(OmegaConf.create(keys), tmp_path)

    held_out, from_csv, from_parquet = scored(None), scored(csv), scored(parquet)

    assert from_parquet["rows"] == from_csv["rows"] == held_out["rows"] == 60
    assert from_parquet["metrics"] == from_csv["metrics"] == held_out["metrics"]
    assert from_parquet["confusion_matrix"] == from_csv["confusion_matrix"] == held_out["confusion_matrix"]
    as_trained, _ = evaluate.held_out_rows(load_one(run))  # the rows as training read them: float32
    outputs = predict_frame([load_one(run)], as_trained, None, "the test rows").to_csv(index=False)
    assert predicted(run, csv, tmp_path / "p.csv", id=None) == outputs  # the very outputs, bit for bit
    in_python = mltrain.load(run).predict(frame.iloc[test_rows])  # a float64 DataFrame: rounded as read
    assert in_python.to_csv(index=False) == outputs


def test_monitor_on_parquet_equals_monitor_on_csv(penguins, tmp_path: Path) -> None:
    frame, run = penguins
    shifted = frame.assign(bill_length=frame.bill_length + 3.0)
    csv, parquet = write_both(shifted, tmp_path / "new")

    def watched(data: Path) -> dict:
        keys = {"run": str(run), "input": str(data), "max_drift": 0.25, "max_ks": None, "max_drop": None}
        result = monitor.run(OmegaConf.create(keys), tmp_path / data.suffix[1:])
        return {k: v for k, v in result.items() if k not in ("input", "alert")}

    from_csv, from_parquet = watched(csv), watched(parquet)

    assert from_parquet == from_csv
    assert from_parquet["failed"] == ["bill_length (feature)"] and from_parquet["evaluation"]["rows"] == 300


def test_parquet_is_read_in_chunks_typed_as_training_read_it(penguins, tmp_path: Path) -> None:
    frame, run = penguins
    bad = frame.assign(row=np.arange(300) + 2**40)
    bad.loc[250, "bill_depth"] = np.inf
    _, parquet = write_both(bad, tmp_path / "new")
    saved = load_one(run)

    chunks = list(input_chunks(parquet, saved, 7, "input=new.parquet", extra=["row"]))

    assert max(map(len, chunks)) == 7 and sum(map(len, chunks)) == 300
    whole = pd.concat(chunks)
    assert list(whole.index) == list(range(300))
    assert set(whole.columns) == {"island", "bill_length", "bill_depth", "flipper_length", "species", "row"}
    assert whole.bill_length.dtype == np.float32 and whole.row.dtype == np.int64  # the id as it is
    assert whole.bill_length.to_numpy().tolist() == frame.bill_length.astype(np.float32).tolist()
    assert whole.island.tolist() == read_input(parquet, saved, "x").island.tolist() == frame.island.tolist()
    with pytest.raises(
        DataError, match=r"input=.*new.parquet: column 'bill_depth' .* data row 251 holds inf"
    ):
        predicted(run, parquet, tmp_path / "p.csv", chunksize=7)


def test_text_columns_of_a_csv_stay_text(tmp_path: Path) -> None:
    """A category ``"01"`` the model saw as text (a column the user chose with ``dataset.features``) is not
    read as the number 1 from a file of only digits."""
    rng = np.random.default_rng(0)
    code = rng.choice(["01", "02", "X"], 60)
    frame = pd.DataFrame({"code": code, "x": rng.normal(size=60), "y": np.where(code == "X", "b", "a")})
    frame.to_csv(tmp_path / "train.csv", index=False)
    keys = ["dataset.target=y", "dataset.features=[code,x]", "trainer.epochs=1"]
    run = fit_run(tmp_path / "run", ["dataset=csv", f"dataset.path={tmp_path / 'train.csv'}", *keys])
    digits = frame.code != "X"
    frame[digits].to_csv(tmp_path / "digits.csv", index=False)  # pandas alone would read 1 and 2 here

    predicted(run, tmp_path / "digits.csv", tmp_path / "p.csv", id=None)
    predicted(run, tmp_path / "train.csv", tmp_path / "all.csv", id=None)

    all_rows = pd.read_csv(tmp_path / "all.csv")[digits.to_numpy()].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "p.csv"), all_rows)


def test_a_bad_file_is_one_user_error_naming_input(penguins, tmp_path: Path, monkeypatch) -> None:
    frame, run = penguins
    frame.to_csv(tmp_path / "renamed.parquet", index=False)  # a CSV named .parquet
    (tmp_path / "empty.parquet").write_bytes(b"")
    base = {"run": str(run), "output": str(tmp_path / "p.csv"), "id": None, "chunksize": 100}

    def run_predict(**keys: str) -> None:
        predict.run(OmegaConf.create(base | keys), tmp_path)

    not_parquet = r"input=.*renamed.parquet is not a readable Parquet file: Parquet magic bytes not found"
    with pytest.raises(DataError, match=not_parquet):
        run_predict(input=str(tmp_path / "renamed.parquet"))
    with pytest.raises(DataError, match="is not a readable Parquet file: Parquet file size is 0 bytes"):
        evaluate.run(OmegaConf.create({"run": str(run), "input": str(tmp_path / "empty.parquet"),
                                       "max_drop": None}), tmp_path)  # fmt: skip
    frame.iloc[:0].to_parquet(tmp_path / "header.parquet")  # the columns, no rows
    with pytest.raises(DataError, match="header.parquet has no rows with a label in 'species'"):
        evaluate.run(OmegaConf.create({"run": str(run), "input": str(tmp_path / "header.parquet"),
                                       "max_drop": None}), tmp_path)  # fmt: skip
    with pytest.raises(DataError, match=r"^input=nope.parquet: no such file$"):
        run_predict(input="nope.parquet")
    (tmp_path / "parts.parquet").mkdir()  # as Spark writes a data set
    with pytest.raises(DataError, match=r"parts.parquet is a directory; name one CSV or Parquet file$"):
        run_predict(input=str(tmp_path / "parts.parquet"))
    with pytest.raises(ConfigError, match=r"^output=p.parquet: predict writes CSV; name a .csv file"):
        run_predict(input=str(tmp_path / "renamed.parquet"), output="p.parquet")
    assert not (tmp_path / "p.csv").exists()
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as without the parquet extra
    with pytest.raises(DataError, match=r"^input=new.parquet: reading Parquet needs pyarrow; pip install"):
        read_input(tmp_path / "renamed.parquet", load_one(run), "input=new.parquet")


def test_a_user_fits_on_parquet_then_predicts_and_evaluates_parquet(tmp_path: Path) -> None:
    """The README's walk: the run directory is the one ``fit`` printed last."""
    frame = pd.read_csv(write_penguins(tmp_path / "p.csv"))
    frame.iloc[:240].to_parquet(tmp_path / "train.parquet")
    frame.iloc[240:].drop(columns="species").to_parquet(tmp_path / "new.parquet")
    frame.iloc[240:].to_parquet(tmp_path / "test.parquet")

    fit = run_mltrain("fit", "dataset=csv", "dataset.path=train.parquet", "dataset.target=species",
                      "trainer.epochs=2", cwd=tmp_path)  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    last = [line for line in (fit.stdout + fit.stderr).splitlines() if " -> " in line][-1]
    run = last.rsplit(" -> ", 1)[1].strip()
    predicted = run_mltrain("predict", f"run={run}", "input=new.parquet", "output=preds.csv", cwd=tmp_path)
    scored = run_mltrain("evaluate", f"run={run}", "input=test.parquet", cwd=tmp_path)

    assert predicted.returncode == 0, predicted.stderr
    assert scored.returncode == 0, scored.stderr
    out = pd.read_csv(tmp_path / "preds.csv")
    assert len(out) == 60 and list(out.columns[:2]) == ["prediction", "prob_Adelie"]
    evaluation = json.loads(next((tmp_path / "runs" / "evaluate").glob("*/evaluation.json")).read_text())
    assert evaluation["input"] == "input=test.parquet" and evaluation["rows"] == 60
