"""``mltrain export``: the ONNX and TorchScript files score the raw CSV as ``mltrain predict`` does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from mltrain.commands import export, fit, predict
from mltrain.config.schemas import register_schemas
from mltrain.errors import ConfigError
from mltrain.rundir import install_resolvers
from tests.conftest import fit_run, write_penguins

ort = pytest.importorskip("onnxruntime")


def bundled_csv(path: Path, loader: str) -> Path:
    import sklearn.datasets

    getattr(sklearn.datasets, loader)(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """``{task: (raw csv, run dir)}``: a multiclass run with a categorical column and imputed gaps in a
    numeric and a categorical column, a binary (bce) run, and a 2-fold regression run."""
    root = tmp_path_factory.mktemp("export")
    penguins = write_penguins(root / "penguins.csv", missing=True)
    frame = pd.read_csv(penguins)
    frame.loc[[4, 20], "island"] = np.nan
    frame.to_csv(penguins, index=False)
    cancer, diabetes = bundled_csv(root / "cancer.csv", "load_breast_cancer"), root / "diabetes.csv"
    bundled_csv(diabetes, "load_diabetes")
    small = ["trainer.epochs=2", "model.hidden=[8]"]
    tabm = ["trainer.epochs=2", "model=tabm", "model.k=4", "model.d_block=16", "model.n_bins=8",
            "model.d_embedding=4", "dataset.numeric=quantile"]  # fmt: skip
    return {
        "multiclass": (penguins, fit_run(root / "m", [*small, "dataset=csv", f"dataset.path={penguins}",
                       "dataset.target=species", "dataset.missing=impute"])),
        "binary": (cancer, fit_run(root / "b", [*small, "dataset=csv", f"dataset.path={cancer}",
                   "dataset.target=target", "loss=bce"])),
        "regression": (diabetes, fit_run(root / "r", [*small, "dataset=csv", f"dataset.path={diabetes}",
                       "dataset.target=target", "loss=mse", "metric=[mae]", "validation=kfold",
                       "validation.k=2"])),
        "tabm multiclass": (penguins, fit_run(root / "tm", [*tabm, "dataset=csv", f"dataset.path={penguins}",
                            "dataset.target=species", "dataset.missing=impute"])),
        "tabm binary": (cancer, fit_run(root / "tb", [*tabm, "dataset=csv", f"dataset.path={cancer}",
                        "dataset.target=target", "loss=bce", "model.embedding=periodic",
                        "dataset.numeric=robust"])),
        "tabm regression": (diabetes, fit_run(root / "tr", [*tabm, "dataset=csv", f"dataset.path={diabetes}",
                            "dataset.target=target", "loss=mse", "metric=[mae]", "validation=kfold",
                            "validation.k=2"])),
    }  # fmt: skip


def predicted(run: Path, data: Path, tmp_path: Path) -> pd.DataFrame:
    cfg = {
        "run": str(run),
        "input": str(data),
        "output": str(tmp_path / "p.csv"),
        "id": None,
        "chunksize": 999,
    }
    predict.run(OmegaConf.create(cfg), tmp_path)
    return pd.read_csv(tmp_path / "p.csv")


def exported(run: Path, fmt: str, tmp_path: Path, trust_code: bool = False) -> Path:
    cfg = {"run": str(run), "format": fmt, "output": None, "trust_code": trust_code}
    result = export.run(OmegaConf.create(cfg), tmp_path)
    return Path(result["output"])


def onnx_feed(session: ort.InferenceSession, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The raw CSV columns as the README shows: numbers as float64, categories as strings ("" if missing)."""
    return {
        i.name: (
            frame[i.name].to_numpy(np.float64)
            if i.type == "tensor(double)"
            else frame[i.name].fillna("").astype(str).to_numpy(object)
        ).reshape(-1, 1)
        for i in session.get_inputs()
    }


def check_outputs(outputs: dict[str, np.ndarray], expected: pd.DataFrame, classes: list | None) -> None:
    if classes is None:
        assert outputs["prediction"] == pytest.approx(expected.prediction.to_numpy(), rel=1e-5, abs=1e-5)
        return
    probabilities = expected[[f"prob_{c}" for c in classes]].to_numpy()
    assert np.abs(outputs["probabilities"] - probabilities).max() < 1e-5
    assert [classes[i] for i in outputs["label"]] == expected.prediction.tolist()


@pytest.mark.parametrize(
    "task", ["multiclass", "binary", "regression", "tabm multiclass", "tabm binary", "tabm regression"]
)
def test_onnx_scores_the_raw_csv_like_predict(task: str, runs, tmp_path: Path) -> None:
    data, run = runs[task]
    frame = pd.read_csv(data)
    path = exported(run, "onnx", tmp_path)

    session = ort.InferenceSession(str(path))
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, onnx_feed(session, frame)), strict=True))

    meta = json.loads(session.get_modelmeta().custom_metadata_map["mltrain"])
    assert (
        [i.name for i in session.get_inputs()]
        == meta["features"]
        == [c for c in frame if c != meta["target"]]
    )
    check_outputs(outputs, predicted(run, data, tmp_path), meta["classes"])
    assert meta["models"] == (2 if task.endswith("regression") else 1)  # the k-fold parent: both folds inside


@pytest.mark.parametrize("task", ["multiclass", "regression", "tabm multiclass", "tabm binary"])
def test_torchscript_scores_the_raw_csv_like_predict(task: str, runs, tmp_path: Path) -> None:
    data, run = runs[task]
    frame = pd.read_csv(data)
    path = exported(run, "torchscript", tmp_path)
    extra = {"mltrain.json": ""}

    module = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["mltrain.json"])
    columns = {c: torch.tensor(frame[c].to_numpy(np.float64)) for c in meta["numeric"]}
    categories = {c: frame[c].fillna("").astype(str).tolist() for c in meta["categorical"]}
    outputs = {k: v.numpy() for k, v in module(columns, categories).items()}

    check_outputs(outputs, predicted(run, data, tmp_path), meta["classes"])


def test_unseen_category_sets_no_category_and_an_imputed_column_takes_its_fill(runs, tmp_path: Path) -> None:
    data, run = runs["multiclass"]
    session = ort.InferenceSession(str(exported(run, "onnx", tmp_path)))
    row = pd.read_csv(data).iloc[[0, 0, 0]].copy()
    fill = json.loads((run / "preprocessing.json").read_text())["fill"]["island"]
    row["island"] = [fill, "", "Atlantis"]  # the imputed value, a missing one, one never seen

    probabilities = session.run(["probabilities"], onnx_feed(session, row))[0]

    assert probabilities[1] == pytest.approx(probabilities[0], abs=1e-7)  # missing -> the training mode
    assert probabilities[2] == pytest.approx(probabilities[0], abs=1e-7)  # unseen -> the fill as well


def test_missing_export_extra_is_a_user_error_naming_the_install(
    runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnx" else real(n, *a))
    with pytest.raises(
        ConfigError, match=r'package\(s\) onnx of the export extra.*pip install -e "\.\[export\]"'
    ):
        exported(runs["binary"][1], "onnx", tmp_path)


def test_bad_format_and_missing_run_are_user_errors(runs, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="format=onx is not valid; choose from onnx, torchscript; did you mean"
    ):
        exported(runs["binary"][1], "onx", tmp_path)
    with pytest.raises(ConfigError, match="no such run directory"):
        exported(tmp_path / "nope", "onnx", tmp_path)


BRANCHY = """
from torch import nn


class Branchy(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.a, self.b = nn.Linear(in_features, out_features), nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.a(x) if x.mean() > 0 else self.b(x)  # a Python branch on a tensor value


def branchy(in_features, out_features):
    return Branchy(in_features, out_features)
"""


@pytest.fixture(scope="module")
def branchy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of a custom model whose forward branches in Python on a tensor value."""
    root = tmp_path_factory.mktemp("branchy")
    (root / "branchy_models.py").write_text(BRANCHY)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.syspath_prepend(str(root))
        register_schemas()
        install_resolvers()
        with initialize_config_module("mltrain.conf", version_base="1.3"):
            cfg = compose("fit", ["dataset=iris", "model=custom", "model.factory=branchy_models:branchy",
                                  "trainer.epochs=1"])  # fmt: skip
        GlobalHydra.instance().clear()
        fit.run(cfg, root / "run")
    return root / "run"


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_model_that_branches_on_tensor_values_is_refused(
    fmt: str, branchy_run: Path, tmp_path: Path
) -> None:
    """Tracing would keep one branch: a file that scores some rows wrongly. Refused instead."""
    with pytest.raises(ConfigError, match=f"format={fmt}: torch cannot trace this model faithfully"):
        exported(branchy_run, fmt, tmp_path, trust_code=True)  # the user's own factory
