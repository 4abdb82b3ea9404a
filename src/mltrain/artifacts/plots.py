"""PNG plots of a run, in ``<run>/plots/``: learning curves, and the confusion matrix of classifiers.

matplotlib (Agg backend, no display needed) is imported only in this module, which ``fit`` imports after
training, so start-up never pays for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mltrain.files import atomic_file

SKIP = ("epoch", "lr", "time_s", "fold")


def _figure(figsize: tuple[float, float]) -> Any:
    """A bare matplotlib ``Figure``, drawn by Agg when saved: no pyplot import, no global figure state."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def learning_curves(history: list[dict[str, float]], best_epoch: int | None, out_dir: Path) -> str:
    """``plots/learning_curves.png``: one panel per quantity (loss, each metric), train vs val.

    Returns:
        The path written, relative to ``out_dir``.
    """
    names = [k for k in history[0] if k not in SKIP and not k.startswith("val_")]
    epochs = [r["epoch"] for r in history]
    fig = _figure((5 * len(names), 4))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [r[name] for r in history], marker=".", label="train")
        if f"val_{name}" in history[0]:
            ax.plot(epochs, [r[f"val_{name}"] for r in history], marker=".", label="val")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
        ax.set(title=name, xlabel="epoch")
        ax.legend()
    return _save(fig, out_dir, "learning_curves.png")


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any], out_dir: Path,
    rows: str = "validation rows, best weights",
) -> str:  # fmt: skip
    """``plots/confusion_matrix.png``: counts, true class by row, predicted class by column, named."""
    n = len(classes)
    cm = np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)
    size = max(4.0, 0.6 * n + 2)
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
    ax.set(xlabel="predicted", ylabel="true", title=f"confusion matrix\n({rows})")
    return _save(fig, out_dir, "confusion_matrix.png")


def _save(fig: Any, out_dir: Path, name: str) -> str:
    (Path(out_dir) / "plots").mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_file(Path(out_dir) / "plots" / name, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    return f"plots/{name}"


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
