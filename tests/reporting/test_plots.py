"""Plots a person can read without the README: axis labels with units, whole-number epochs, the run
named in the title, report legends that name the differing overrides.

The figures are inspected as matplotlib objects (labels, ticks, legend texts), not as pixels.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image

from mltrain.reporting import plots


def history(epochs: int) -> list[dict[str, float]]:
    """A regression history: loss on the standardised target, mae in the target's units."""
    return [
        {"epoch": e, "loss": 1 / e, "mae": 50 / e, "val_loss": 1.1 / e, "val_mae": 55 / e, "lr": 1e-3}
        for e in range(1, epochs + 1)
    ]


def test_learning_curves_label_units_and_whole_epochs() -> None:
    fig = plots.learning_figure(history(7), 5, "learning curves of my-run", "mean_squared_error", True)
    loss, mae = fig.axes
    assert loss.get_ylabel() == "loss: mean_squared_error\non the standardised target (mean 0, std 1)"
    assert mae.get_ylabel() == "mae (target's units)" and mae.get_xlabel() == "epoch"
    assert list(loss.get_xticks()) == [1, 2, 3, 4, 5, 6, 7]
    assert fig.get_suptitle() == "learning curves of my-run"
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train", "validation", "best epoch 5"]
    one = plots.learning_figure(history(1), 1, "one epoch", "mean_squared_error", True)
    assert list(one.axes[0].get_xticks()) == [1]  # not 0.96, 0.98, 1.00, ...
    many = plots.learning_figure(history(40), 30, "forty", "mean_squared_error", True)
    assert all(float(t).is_integer() for t in many.axes[0].get_xticks())


def test_classifier_labels_and_file_titles_name_the_run(tmp_path: Path) -> None:
    assert (
        plots.axis_label("val_loss", "binary_crossentropy")
        == "val_loss: binary_crossentropy\n(cross-entropy, nats)"
    )
    assert plots.axis_label("val_accuracy") == "val_accuracy (fraction, 0 to 1)"
    assert plots.axis_label("val_r2", regression=True) == "val_r2 (1 is perfect, 0 predicts the mean)"
    fold = tmp_path / "2026-11-27_13-05-43_validation-kfold_k-2" / "fold_1"
    assert plots.run_name(fold) == "2026-11-27_13-05-43_validation-kfold_k-2/fold_1"
    written = plots.learning_curves(history(3), 2, fold, "mean_squared_error", True)
    assert matplotlib.image.imread(fold / written).shape[1] >= 700  # a real image, wide enough for its title


def test_report_figure_legends_name_what_differs() -> None:
    curves = [
        ("optimizer=adam lr=0.01", [1, 2, 3], [0.5, 0.4, 0.3]),
        ("optimizer=sgd lr=0.1", [1, 2], [0.9, 0.8]),
    ]
    panels = [("classification on iris: 2 runs, lowest val_loss first", "val_loss", "runs", curves)]
    fig = plots.report_figure(panels)
    [ax] = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "optimizer=adam lr=0.01",
        "optimizer=sgd lr=0.1",
    ]
    assert list(ax.get_xticks()) == [1, 2, 3] and ax.get_title().startswith("classification on iris")
