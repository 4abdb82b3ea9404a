"""Run artifacts: the curve diagnosis, the per-class report against the run's own metrics, real PNGs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from mltrain.commands import fit
from mltrain.reporting.diagnosis import diagnose

Compose = Callable[..., DictConfig]


def rows(losses: list[float], val: list[float] | None = None) -> list[dict[str, float]]:
    val = val or losses
    return [
        {"epoch": i, "loss": a, "val_loss": b} for i, (a, b) in enumerate(zip(losses, val, strict=True), 1)
    ]


@pytest.mark.parametrize(
    ("history", "verdict", "epoch"),
    [
        (rows([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 0.7, 0.75, 0.8, 0.9, 1.0]), "overfitting", 2),
        (rows([1.0, 0.9, float("nan")]), "diverged", 3),
        (rows([1.0, 0.999, 0.998]), "underfitting", None),
        (rows([1.0, 0.5, 0.4]), "still_improving", None),
        (rows([1.0, 0.5, 0.4, 0.41], [1.0, 0.5, 0.4, 0.45]), "ok", None),
    ],
)
def test_diagnosis_reads_the_curves(history: list[dict[str, float]], verdict: str, epoch: int | None) -> None:
    found = diagnose(history)
    assert found["verdict"] == verdict
    assert found.get("epoch") == epoch


def test_report_matches_the_runs_metrics_and_plots_are_real_images(
    compose_fit: Compose, tmp_path: Path
) -> None:
    import matplotlib.image

    cfg = compose_fit(["dataset=wine", "trainer.epochs=4", "metric=[accuracy,f1]"])

    summary = fit.run(cfg, tmp_path)

    report = json.loads((tmp_path / "classification_report.json").read_text())
    assert report["accuracy"] == pytest.approx(summary["best"]["val_accuracy"])  # torch metric vs sklearn
    assert report["macro avg"]["f1-score"] == pytest.approx(summary["best"]["val_f1"], abs=1e-6)
    assert set(report) >= {"class_0", "class_1", "class_2", "macro avg", "weighted avg"}
    assert (tmp_path / "classification_report.csv").read_text().startswith("label,precision,recall")
    for name in ("learning_curves.png", "confusion_matrix.png"):
        image = matplotlib.image.imread(tmp_path / "plots" / name)
        assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 300, name
        assert image.std() > 0.01, name  # not blank
    assert summary["diagnosis"]["verdict"] in ("ok", "still_improving", "underfitting", "overfitting")


def test_regression_run_has_curves_but_no_class_report(compose_fit: Compose, tmp_path: Path) -> None:
    cfg = compose_fit(["dataset=diabetes", "loss=mse", "metric=[mae]", "trainer.epochs=2"])

    summary = fit.run(cfg, tmp_path)

    assert (tmp_path / "plots" / "learning_curves.png").is_file()
    assert not (tmp_path / "plots" / "confusion_matrix.png").exists()
    assert summary["artifacts"] == ["plots/learning_curves.png"]
