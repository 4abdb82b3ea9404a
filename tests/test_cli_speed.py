"""Start-up as a user meets it: a one-epoch CSV fit writes every file without importing what it need not.

    python -m pytest tests/test_cli_speed.py -q                     # default: the user walk
    python -m pytest tests/test_cli_speed.py -q -m slow             # trainer.compile=true against eager

Timings are measured by ``benchmarks/bench_startup.py`` and ``benchmarks/bench_trainer.py``, not here.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mltrain.commands import fit
from tests.conftest import mltrain, write_penguins

RUN_FILES = (
    "config.yaml", "history.csv", "history.json", "summary.json", "preprocessing.json", "model.pt",
    "checkpoints/last.pt", "checkpoints/best.pt", "classification_report.json", "classification_report.csv",
    "confusion_matrix.json",
    "plots/learning_curves.png", "plots/confusion_matrix.png",
)  # fmt: skip
HEAVY = ("sklearn", "scipy")  # a CSV fit has no use for these (1 s of imports); plots need matplotlib


def imported(stderr: str) -> set[str]:
    """Top-level packages named in ``python -X importtime``'s report."""
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", stderr, flags=re.MULTILINE)
    return {n.split(".")[0] for n in names} | set(names)


@pytest.mark.slow  # subprocess runs: the default suite's budget (test_flow.py walks the same path)
def test_csv_fit_writes_every_file_without_heavy_imports_then_evaluate(tmp_path: Path) -> None:
    data = write_penguins(tmp_path / "penguins.csv")
    args = ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species", "trainer.epochs=1"]

    result = mltrain("fit", *args, cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})

    assert result.returncode == 0, result.stderr[-3000:]
    run = Path(re.findall(r" -> (\S+)$", result.stdout, flags=re.MULTILINE)[-1])  # the last log line
    assert run.parent == tmp_path / "runs" / "fit"
    missing = [name for name in RUN_FILES if not (run / name).is_file()]
    assert not missing, missing
    for name in ("learning_curves.png", "confusion_matrix.png"):
        image = np.asarray(Image.open(run / "plots" / name).convert("L"), dtype=float)
        assert image.shape[0] >= 300 and image.std() > 5, name  # drawn, not blank
    loaded = imported(result.stderr)
    assert "torch" in loaded  # the report was read
    assert not [p for p in HEAVY if p in loaded], [p for p in HEAVY if p in loaded]

    # quoted: the name holds the overrides' "=" and ",", which Hydra's grammar refuses unquoted (main's
    # run-dir naming; reported to the lead)
    evaluated = mltrain("evaluate", f"run='{run}'", f"input={data.name}", cwd=tmp_path)

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (out,) = (tmp_path / "runs" / "evaluate").iterdir()
    report = json.loads((out / "evaluation.json").read_text())
    assert sum(map(sum, report["confusion_matrix"])) == len(pd.read_csv(data))
    assert Image.open(out / "plots" / "confusion_matrix.png").size[0] >= 400


def test_compile_is_a_typed_trainer_key(tmp_path: Path) -> None:
    result = mltrain("fit", "trainer.compile=maybe", cwd=tmp_path)

    assert result.returncode == 2
    assert "trainer.compile" in result.stderr and "maybe" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="inductor needs a C++ compiler")
def test_compiled_model_trains_like_the_eager_one(compose_fit, tmp_path: Path) -> None:  # noqa: ANN001
    small = ["dataset=iris", "model.hidden=[16]", "trainer.epochs=3", "trainer.device=cpu"]
    from torch._dynamo.utils import counters

    eager = fit.run(compose_fit(small), tmp_path / "eager")
    counters.clear()
    compiled = fit.run(compose_fit([*small, "trainer.compile=true"]), tmp_path / "compiled")

    assert counters["stats"]["unique_graphs"] >= 1  # dynamo did capture the model (not a silent no-op)

    for key in ("loss", "val_loss", "val_accuracy"):
        assert compiled["final"][key] == pytest.approx(eager["final"][key], rel=1e-4), key
    a = torch.load(tmp_path / "eager" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "compiled" / "model.pt", weights_only=True)
    assert list(a) == list(b)  # same keys: the compiled run's files load like any other
