"""``mltrain monitor`` on runs fitted here: a shifted feature is found first, an unshifted sample passes,
the training profile matches the training rows, labels bring evaluate's drop check, bad input is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mltrain.commands import evaluate, monitor, predict
from mltrain.commands.fit_data import split_rows
from mltrain.components.losses import LOSSES
from mltrain.components.registry import options
from mltrain.config.spec import Splitting
from mltrain.data.datasets import DATASETS
from mltrain.errors import ConfigError, DataError
from tests.conftest import SHIFTED, cancer_csvs, fit_run, write_penguins


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """``(train.csv, new.csv, shifted.csv, run)``: a bce run on train.csv (80% training, 20% validation)."""
    root = tmp_path_factory.mktemp("cancer")
    train, new, shifted = cancer_csvs(root)
    run = fit_run(root / "run", ["dataset=csv", f"dataset.path={train}", "dataset.target=target", "loss=bce",
                                 "trainer.epochs=5", "optimizer.lr=0.01", "model.hidden=[8]"])  # fmt: skip
    return train, new, shifted, run


def monitored(run: Path, data: Path, out: Path, **keys: float | None) -> dict:
    cfg = {"run": str(run), "input": str(data), "max_drift": 0.25, "max_ks": None, "max_drop": None} | keys
    return monitor.run(OmegaConf.create(cfg), out)


def test_a_shifted_feature_ranks_first_and_raises_the_alert(cancer, tmp_path: Path) -> None:
    _, _, shifted, run = cancer
    result = monitored(run, shifted, tmp_path)

    first = result["drift"][0]
    assert (first["name"], first["source"], first["drifted"]) == (SHIFTED, "feature", True)
    assert result["failed"] == [f"{SHIFTED} (feature)"]
    assert result["alert"].startswith(f"drift past max_drift=0.25: {SHIFTED} (feature: psi ")
    saved = json.loads((tmp_path / "monitor.json").read_text())
    assert saved["drift"][0]["psi"] == pytest.approx(first["psi"]) and first["psi"] > 1.0
    assert (tmp_path / "plots" / "drift.png").stat().st_size > 5000


def test_an_unshifted_sample_passes(cancer, tmp_path: Path) -> None:
    _, new, _, run = cancer
    result = monitored(run, new, tmp_path)

    assert "alert" not in result and result["failed"] == []
    assert max(i["psi"] for i in result["drift"]) < 0.25
    names = {(i["name"], i["source"]) for i in result["drift"]}
    assert ("prediction", "prediction") in names and ("confidence", "prediction") in names
    assert len(names) == 30 + 2 and result["rows"] == result["scored_rows"] == 143
    assert result["evaluation"]["rows"] == 143  # new.csv has the target column too


def test_max_ks_alone_can_raise_the_alert(cancer, tmp_path: Path) -> None:
    _, _, shifted, run = cancer
    result = monitored(run, shifted, tmp_path, max_drift=None, max_ks=0.3)
    assert [i["name"] for i in result["drift"] if i["drifted"]] == [SHIFTED]
    assert result["alert"].startswith("drift past max_ks=0.3:")


def test_the_profile_describes_the_training_rows_and_predictions(cancer, tmp_path: Path) -> None:
    train, _, _, run = cancer
    profile = json.loads((run / "profile.json").read_text())
    cfg = OmegaConf.load(run / "config.yaml")
    table = DATASETS.get("csv")(**options(cfg.dataset))
    rows = split_rows(Splitting.of(cfg), table, LOSSES.get("bce")()).train  # the rows the model trained on
    frame = table.frame.iloc[rows]
    frame.to_csv(tmp_path / "rows.csv", index=False)

    radius = profile["features"]["mean radius"]
    assert radius["edges"] == pytest.approx(np.quantile(frame["mean radius"], np.linspace(0.1, 0.9, 9)))
    assert radius["fractions"][:-1] == pytest.approx([0.1] * 10, abs=0.01) and radius["fractions"][-1] == 0
    keys = {"run": str(run), "input": str(tmp_path / "rows.csv"), "output": str(tmp_path / "p.csv")}
    predict.run(OmegaConf.create(keys | {"id": None, "chunksize": 500}), tmp_path)
    predictions = pd.read_csv(tmp_path / "p.csv")
    shares = predictions.prediction.astype(str).value_counts(normalize=True).to_dict()
    assert profile["predictions"]["prediction"]["fractions"] == pytest.approx(shares)
    confidence = predictions.filter(like="prob_").max(axis=1).to_numpy()
    ecdf = profile["predictions"]["confidence"]["ecdf"]
    assert ecdf["n"] == len(frame) and ecdf["values"][-1] == pytest.approx(confidence.max(), abs=1e-6)


def test_labels_in_the_input_bring_evaluates_metrics_and_drop_check(cancer, tmp_path: Path) -> None:
    _, new, _, run = cancer
    frame = pd.read_csv(new)
    reference = evaluate.run(
        OmegaConf.create({"run": str(run), "input": str(new), "max_drop": None}), tmp_path
    )
    flipped = frame.assign(target=1 - frame.target)  # every label wrong
    flipped.to_csv(tmp_path / "flipped.csv", index=False)

    same = monitored(run, new, tmp_path / "a", max_drop=0.1)
    worse = monitored(run, tmp_path / "flipped.csv", tmp_path / "b", max_drop=0.1)

    assert same["evaluation"]["metrics"] == pytest.approx(reference["metrics"])
    assert "alert" not in same
    assert worse["evaluation"]["failed"] == ["loss", "accuracy"]
    assert worse["alert"] == (
        f"loss, accuracy dropped by more than max_drop=0.1; see {tmp_path / 'b' / 'monitor.json'}"
    )


def test_kfold_parent_averages_each_fold_against_its_own_profile(tmp_path: Path) -> None:
    data = write_penguins(tmp_path / "penguins.csv")
    run = fit_run(tmp_path / "cv", ["dataset=csv", f"dataset.path={data}", "dataset.target=species",
                                    "validation=kfold", "validation.k=2", "trainer.epochs=2"])  # fmt: skip
    new = pd.read_csv(data).iloc[:80].assign(island=["Atlantis"] * 5 + ["Dream"] * 75)
    new.to_csv(tmp_path / "new.csv", index=False)

    both = monitored(run, tmp_path / "new.csv", tmp_path / "both")
    folds = [monitored(run / f"fold_{i}", tmp_path / "new.csv", tmp_path / f"f{i}") for i in (1, 2)]

    assert both["models"] == 2 and both["scored_rows"] == 80  # the unseen island: scored as all zeros
    for item in both["drift"]:
        per_fold = [next(i for i in f["drift"] if i["name"] == item["name"]) for f in folds]
        assert item["psi"] == pytest.approx(np.mean([i["psi"] for i in per_fold]))
    island = next(i for i in both["drift"] if i["name"] == "island")
    assert dict(zip(island["bins"]["labels"], island["bins"]["now"], strict=True))["<other>"] == 5 / 80


def test_bad_input_is_a_user_error(cancer, tmp_path: Path) -> None:
    train, new, _, run = cancer
    old = tmp_path / "old_run"
    shutil.copytree(run, old)
    (old / "profile.json").unlink()
    pd.read_csv(new).drop(columns=["mean radius"]).to_csv(tmp_path / "short.csv", index=False)
    pd.read_csv(new).assign(**{"mean radius": "large"}).to_csv(tmp_path / "text.csv", index=False)

    with pytest.raises(ConfigError, match="has no profile.json .* fit it again"):
        monitored(old, new, tmp_path)
    with pytest.raises(DataError, match="input=.*short.csv has no column 'mean radius'"):
        monitored(run, tmp_path / "short.csv", tmp_path)
    with pytest.raises(
        DataError, match="column 'mean radius' holds 'large'; the model was trained on numbers"
    ):
        monitored(run, tmp_path / "text.csv", tmp_path)
    with pytest.raises(ConfigError, match="max_drift must be a number >= 0 or null, got 'high'"):
        monitored(run, new, tmp_path, max_drift="high")
    with pytest.raises(ConfigError, match="max_ks must be a number >= 0 or null, got nan"):
        monitored(run, new, tmp_path, max_ks=float("nan"))  # no distance is ever past NaN: never an alert
    with pytest.raises(DataError, match="no such file"):
        monitored(run, tmp_path / "nope.csv", tmp_path)
