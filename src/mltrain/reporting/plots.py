"""PNG plots of a run, in ``<run>/plots/``: learning curves, and the confusion matrix of classifiers.

matplotlib (Agg backend, no display needed) is imported only in this module, which ``fit`` imports after
training, so start-up never pays for it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from mltrain.files import atomic_file
from mltrain.rundir import RunDir

SKIP = ("epoch", "lr", "time_s", "fold")
FRACTION = "fraction, 0 to 1"
# units of each metric on a plot's y-axis; regression metrics are in the target's own units
UNITS = {
    "accuracy": FRACTION, "precision": FRACTION, "recall": FRACTION, "f1": FRACTION, "auroc": FRACTION,
    "top_k_accuracy": FRACTION, "mae": "target's units", "rmse": "target's units",
    "mse": "target's units squared", "r2": "1 is perfect, 0 predicts the mean",
}  # fmt: skip


def _figure(figsize: tuple[float, float]) -> Any:
    """A bare matplotlib ``Figure``, drawn by Agg when saved: no pyplot import, no global figure state."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def learning_curves(
    history: list[dict[str, float]], best_epoch: int | None, out_dir: Path, loss: str = "",
    regression: bool = False,
) -> str:  # fmt: skip
    """``plots/learning_curves.png``: one panel per quantity (loss, each metric), train vs val.

    The figure is titled with the run's directory name (``<run>/fold_<i>`` for a fold); each panel's
    y-axis names the quantity and its units; the epochs are whole numbers.

    Args:
        loss: the loss's name, for the loss panel's label.
        regression: the loss is on the standardised target (the metrics are in the target's units).

    Returns:
        The path written, relative to ``out_dir``.
    """
    fig = learning_figure(history, best_epoch, f"learning curves of {run_name(out_dir)}", loss, regression)
    return _save(fig, out_dir, "learning_curves.png")


def learning_figure(
    history: list[dict[str, float]], best_epoch: int | None, title: str, loss: str = "",
    regression: bool = False,
) -> Any:  # fmt: skip
    """The ``Figure`` of :func:`learning_curves`, titled ``title``."""
    names = [k for k in history[0] if k not in SKIP and not k.startswith("val_")]
    epochs = [r["epoch"] for r in history]
    fig = _figure((max(7.0, 5.0 * len(names)), 4.4))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [r[name] for r in history], marker=".", label="train")
        if f"val_{name}" in history[0]:
            ax.plot(epochs, [r[f"val_{name}"] for r in history], marker=".", label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
        ax.set(title=name, xlabel="epoch", ylabel=axis_label(name, loss, regression))
        _whole_epochs(ax, epochs)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    return fig


def confusion_matrix(
    counts: list[list[int]], classes: list[Any], out_dir: Path,
    rows: str = "validation rows, best weights", run: str | Path | None = None,
) -> str:  # fmt: skip
    """``plots/confusion_matrix.png``: counts, true class by row, predicted class by column, named.

    Args:
        counts: the matrix to draw (``components.metrics.confusion_matrix``'s, as lists).
        run: the run whose model predicted, named in the title (default: ``out_dir``'s name).
    """
    n = len(classes)
    cm = np.asarray(counts)
    size = max(5.0, 0.6 * n + 2)
    fig = _figure((size, size))
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    names = [str(c) for c in classes]
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")  # fmt: skip
    ax.set(xlabel="predicted class", ylabel="true class", title=f"confusion matrix\n(counts of {rows})")
    name = run_name(Path(run) if run is not None else out_dir)
    fig.suptitle(textwrap.fill(name, int(size * 13)), fontsize=9)
    return _save(fig, out_dir, "confusion_matrix.png")


Curve = tuple[str, list[int], list[float]]  # (legend label, epochs, values)


def report_curves(panels: list[tuple[str, str, str, list[Curve]]], path: Path) -> None:
    """``report.png``: one panel per report section, the validation curve of each of its best runs.

    Args:
        panels: ``(title, y label, legend title, curves)`` per section; the legend labels name what
            differs between the runs (their overrides), else the runs.
    """
    fig = report_figure(panels)
    fig.tight_layout()
    with atomic_file(Path(path), "wb") as f:
        fig.savefig(f, format="png", dpi=100)


def report_figure(panels: list[tuple[str, str, str, list[Curve]]]) -> Any:
    """The ``Figure`` of :func:`report_curves`."""
    fig = _figure((12.0, 4.2 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, (title, ylabel, legend, curves) in zip(axes[:, 0], panels, strict=True):
        for label, epochs, values in curves:
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set(xlabel="epoch", ylabel=ylabel, title=textwrap.fill(title, 90))
        _whole_epochs(ax, [e for _, epochs, _ in curves for e in epochs])
        ax.legend(fontsize=7, title=legend, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def axis_label(name: str, loss: str = "", regression: bool = False) -> str:
    """The y-axis label of a history column, with its units.

    ``val_loss`` of a regression: ``val_loss: mean_squared_error`` over ``on the standardised target
    (mean 0, std 1)``; ``val_accuracy``: ``val_accuracy (fraction, 0 to 1)``; ``val_mae``: ``val_mae
    (target's units)``.
    """
    base = name.removeprefix("val_").removeprefix("test_")
    if base == "loss":
        if regression:
            return f"{name}: {loss or 'loss'}\non the standardised target (mean 0, std 1)"
        return f"{name}: {loss or 'loss'}\n(cross-entropy, nats)" if "entropy" in loss else name
    return f"{name} ({UNITS[base]})" if base in UNITS else name


def run_name(out_dir: Path) -> str:
    """A run directory's name; ``<run>/fold_<i>`` for a fold of a k-fold run."""
    out_dir = Path(out_dir)
    return (
        f"{out_dir.parent.name}/{out_dir.name}" if RunDir(out_dir).fold_number is not None else out_dir.name
    )


def _whole_epochs(ax: Any, epochs: list[int]) -> None:
    """Epoch ticks at whole numbers only: every epoch when there are few, else whole-number steps."""
    from matplotlib.ticker import MaxNLocator

    shown = sorted({int(e) for e in epochs})
    if len(shown) <= 12:
        ax.set_xticks(shown)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Any, out_dir: Path, name: str) -> str:
    RunDir(out_dir).plots.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_file(RunDir(out_dir).plots / name, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    return str(RunDir.plots / name)  # relative to the run directory: summary.json's artifacts


def drift(items: list[dict[str, Any]], max_drift: float | None, out_dir: Path, top: int = 15) -> str:
    """``plots/drift.png``: the PSI of the most drifted items, and the bins of the first one, then vs now."""
    shown = items[:top][::-1]
    fig = _figure((12, max(4.0, 0.35 * len(shown) + 1.5)))
    bars, bins = fig.subplots(1, 2)
    colours = ["tab:red" if i.get("drifted") else "tab:blue" for i in shown]
    bars.barh([f"{i['name']} ({i['source']})" for i in shown], [i["psi"] for i in shown], color=colours)
    if max_drift is not None:
        bars.axvline(max_drift, color="grey", linestyle="--", label=f"max_drift {max_drift}")
        bars.legend()
    bars.set(title="population stability index", xlabel="PSI")
    first = items[0]
    x = np.arange(len(first["bins"]["labels"]))
    bins.bar(x - 0.2, first["bins"]["training"], width=0.4, label="training rows")
    bins.bar(x + 0.2, first["bins"]["now"], width=0.4, label="input rows")
    bins.set_xticks(x, first["bins"]["labels"], rotation=45, ha="right")
    bins.set(title=f"{first['name']}: share of rows per bin", ylabel="share")
    bins.legend()
    return _save(fig, out_dir, "drift.png")
