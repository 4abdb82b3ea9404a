"""``mltrain monitor`` and ``mltrain export`` as the README walks them: in a fresh directory, mltrain naming
the run directories, each command given the directory or file the one before printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHIFTED, cancer_csvs, mltrain

ort = pytest.importorskip("onnxruntime")


def printed_path(result) -> Path:
    """The path after ``-> `` in the command's last log line."""
    lines = (result.stdout + result.stderr).strip().splitlines()
    return Path(re.search(r"-> (\S+)$", lines[-1]).group(1))


def fit_cancer(tmp_path: Path) -> Path:
    """train.csv, new.csv and shifted.csv in ``tmp_path``; the run directory ``mltrain fit`` printed."""
    cancer_csvs(tmp_path)
    fit = mltrain("fit", "dataset=csv", "dataset.path=train.csv", "dataset.target=target", "loss=bce",
                  "trainer.epochs=5", "optimizer.lr=0.01", cwd=tmp_path)  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    run = printed_path(fit)
    assert run.parent == tmp_path / "runs" / "fit" and (run / "profile.json").is_file()
    return run


@pytest.mark.slow  # a minute of subprocesses; the default suite keeps a shorter walk
def test_monitor_exits_3_naming_the_shifted_feature_and_export_scores_like_predict(tmp_path: Path) -> None:
    run = fit_cancer(tmp_path)

    drifted = mltrain("monitor", f"run={run}", "input=shifted.csv", cwd=tmp_path)
    exported = mltrain("export", f"run={run}", "format=onnx", cwd=tmp_path)

    assert drifted.returncode == 3, drifted.stderr
    (message,) = drifted.stderr.strip().splitlines()
    assert message.startswith(f"error: drift past max_drift=0.25: {SHIFTED} (feature: psi ")
    (report,) = (tmp_path / "runs" / "monitor").glob("*/monitor.json")
    assert json.loads(report.read_text())["drift"][0]["name"] == SHIFTED
    assert "rank  name" in drifted.stdout + drifted.stderr  # the ranked table is logged
    assert exported.returncode == 0, exported.stderr
    assert_onnx_scores_like_predict(printed_path(exported), run, tmp_path)


def assert_onnx_scores_like_predict(model: Path, run: Path, tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from mltrain.commands import predict

    keys = {"run": str(run), "input": str(tmp_path / "new.csv"), "output": str(tmp_path / "preds.csv")}
    predict.run(OmegaConf.create(keys | {"id": None, "chunksize": 1000}), tmp_path)
    session = ort.InferenceSession(str(model))
    frame = pd.read_csv(tmp_path / "new.csv")
    feed = {i.name: frame[[i.name]].to_numpy(np.float64) for i in session.get_inputs()}
    probabilities, label = session.run(["probabilities", "label"], feed)
    expected = pd.read_csv(tmp_path / "preds.csv")
    assert np.abs(probabilities - expected[["prob_0", "prob_1"]].to_numpy()).max() < 1e-5
    assert list(label) == list(expected.prediction)


@pytest.mark.slow
def test_unshifted_rows_exit_0_and_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    run = fit_cancer(tmp_path)
    calm = mltrain("monitor", f"run={run}", "input=new.csv", cwd=tmp_path)
    assert calm.returncode == 0, calm.stderr
    cases = [
        (["monitor", f"run={run}"], "input is required"),
        (["monitor", f"run={run}", "input=nope.csv"], "input=nope.csv: no such file"),
        (["monitor", f"run={run}", "input=new.csv", "max_drift=high"], "max_drift must be a number"),
        (["monitor", f"run={run}", "input=new.csv", "max_drfit=0.1"], "did you mean max_drift"),
        (["export", f"run={run}", "format=pkl"], "format=pkl is not valid; choose from onnx, torchscript"),
        (["export", "run=runs/fit/nope"], "run=runs/fit/nope: no such run directory"),
        (["monitor", "run=runs/fit/nope", "input=new.csv"], "run=runs/fit/nope: no such run directory"),
    ]
    for args, expected in cases:
        result = mltrain(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert expected in line, line
