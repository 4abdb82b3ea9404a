"""``profile.json``: what the training rows and the model's predictions on them looked like.

Written by ``fit`` beside ``preprocessing.json``; ``mltrain monitor`` compares new rows with it
(``monitoring/drift.py``). For each feature column, and for the predictions:

* a number: ``edges`` (the deciles of the training values) and the share of rows in each of the
  ``len(edges) + 1`` bins plus a last share for missing values (for the population stability index), and
  an ECDF: every distinct value with the count of rows at or below it, or, past ``ECDF_POINTS`` distinct
  values, that many quantiles (for the Kolmogorov-Smirnov distance, then within 1/(ECDF_POINTS - 1));
* a category: the share of each category (``<missing>`` for missing values).

The predictions are the class (a category) and the confidence (the top class probability, a number) for
classifiers, the value in the target's units for regression.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from mltrain.components.losses import Loss
from mltrain.data.preprocessing import Preprocessor
from mltrain.data.saved_encoding import is_number
from mltrain.errors import DataError
from mltrain.files import atomic_write_text, load_json
from mltrain.rundir import RunDir

BINS = 10  # PSI bins of a numeric column: its deciles on the training rows
ECDF_POINTS = 256  # distinct values kept for the KS distance; more become this many quantiles
MISSING = "<missing>"
VERSION = 1


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    """Decile bins with their shares (missing last) and the ECDF summary of a float column."""
    values = np.asarray(values, dtype=np.float64)
    present = np.sort(values[~np.isnan(values)])
    edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1])) if len(present) else []
    profile = {"type": "numeric", "rows": len(values), "edges": [float(e) for e in edges]}
    profile["fractions"] = numeric_fractions(profile, values).tolist()
    distinct = np.unique(present)
    exact = len(distinct) <= ECDF_POINTS
    points = distinct if exact else np.unique(
        np.quantile(present, np.linspace(0, 1, ECDF_POINTS), method="inverted_cdf")
    )  # fmt: skip
    counts = np.searchsorted(present, points, side="right")
    return profile | {"ecdf": {"values": points.tolist(), "counts": counts.tolist(), "n": len(present),
                               "exact": bool(exact)}}  # fmt: skip


def numeric_fractions(profile: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``, then missing."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(profile["edges"], dtype=np.float64), values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(profile["edges"]) + 1).astype(np.float64)
    return np.append(counts, missing.sum()) / max(len(values), 1)


def categorical_profile(values: pd.Series) -> dict[str, Any]:
    """The share of each category, as strings; missing values count as ``<missing>``."""
    return {"type": "categorical", "rows": len(values), "fractions": category_shares(values)}


def category_shares(values: pd.Series) -> dict[str, float]:
    """``{category: share}`` of a column, every value as its string, missing ones as ``<missing>``."""
    labels = pd.Series(values).astype(object).where(pd.Series(values).notna(), MISSING).map(str)
    return {str(k): float(v) for k, v in labels.value_counts(normalize=True, sort=False).items()}


def prediction_values(loss: Loss, pre: Preprocessor, outputs: Tensor) -> dict[str, Any]:
    """What is profiled of the model's raw outputs: ``prediction`` (class names or values) and, for
    classifiers, ``confidence`` (the top class probability)."""
    if pre.classes is None:
        values = outputs.double().numpy()[:, 0] * pre.target_scale + pre.target_mean
        return {"prediction": values}
    labels = loss.labels(outputs).numpy()
    confidence = loss.probabilities(outputs).max(1).values.double().numpy()
    return {"prediction": pd.Series([pre.classes[i] for i in labels], dtype=object), "confidence": confidence}


def build_profile(frame: pd.DataFrame, pre: Preprocessor, predictions: dict[str, Any]) -> dict[str, Any]:
    """The profile of the raw training rows ``frame`` and of the predictions on them."""

    def one(values: Any, numeric: bool) -> dict[str, Any]:
        return numeric_profile(np.asarray(values, np.float64)) if numeric else categorical_profile(values)

    numeric = set(pre.numeric)  # a set: `in` a list of 8,000 columns, 8,000 times, is quadratic
    features = {c: one(frame[c], c in numeric) for c in pre.features}
    outputs = {k: one(v, not isinstance(v, pd.Series)) for k, v in predictions.items()}  # classes: a Series
    return {"version": VERSION, "rows": len(frame), "features": features, "predictions": outputs}


@torch.no_grad()
def write_profile(
    out_dir: Path, frame: pd.DataFrame, pre: Preprocessor, loss: Loss, model: nn.Module, x: Tensor
) -> None:
    """``out_dir/profile.json`` of the training rows: raw ``frame``, and ``model``'s outputs on ``x``."""
    training = model.training
    model.eval()
    outputs = torch.cat([model(x[i : i + 4096]).float().cpu() for i in range(0, len(x), 4096)])
    model.train(training)
    profile = build_profile(frame.reset_index(drop=True), pre, prediction_values(loss, pre, outputs))
    atomic_write_text(RunDir(out_dir).profile, json.dumps(profile, separators=(",", ":")) + "\n")


def load_profile(run_dir: Path, pre: Preprocessor) -> dict[str, Any] | None:
    """The run's ``profile.json``, or ``None`` for a run fitted before mltrain wrote one.

    Raises:
        DataError: naming the file, when it cannot be read or is not what :func:`write_profile` writes for
            the run's feature columns (``pre``).
    """
    path = RunDir(run_dir).profile
    if not path.is_file():
        return None
    try:
        profile = load_json(path)
    except (OSError, ValueError) as e:
        raise DataError(
            f"{path} is damaged or not a file mltrain wrote ({' '.join(str(e).split())[:200]})"
        ) from e
    problem = profile_problem(profile, pre)
    if problem:
        raise DataError(f"{path} is damaged or not a file mltrain wrote ({problem})")
    return profile


def profile_problem(profile: Any, pre: Preprocessor) -> str | None:
    """The first way ``profile`` differs from what :func:`build_profile` writes for ``pre``, or ``None``."""
    if not isinstance(profile, dict) or not isinstance(profile.get("features"), dict):
        return "it holds no object of features"
    outputs = ["prediction"] if pre.classes is None else ["prediction", "confidence"]
    expected = {"features": pre.features, "predictions": outputs}
    for part, names in expected.items():
        items = profile.get(part)
        if not isinstance(items, dict) or sorted(items) != sorted(names):
            return f"{part} must profile {', '.join(names)}"
        for name, item in items.items():
            numeric = (
                name in pre.numeric if part == "features" else name == "confidence" or pre.classes is None
            )
            problem = _item_problem(item, numeric)
            if problem:
                return f"{part}.{name}: {problem}"
    return None


def _item_problem(item: Any, numeric: bool) -> str | None:
    """What is wrong with one column's profile (``numeric`` or ``categorical``), or ``None``."""
    kind = "numeric" if numeric else "categorical"
    if not isinstance(item, dict) or item.get("type") != kind or not _count(item.get("rows")):
        return f"must be a {kind} profile with its rows"
    fractions = item.get("fractions")
    if not numeric:
        ok = isinstance(fractions, dict) and all(_share(v) for v in fractions.values())
        return None if ok else "fractions must map each category to its share"
    edges, ecdf = item.get("edges"), item.get("ecdf")
    if not _numbers(edges) or edges != sorted(edges):
        return "edges must be finite numbers in increasing order"
    if not _numbers(fractions) or len(fractions) != len(edges) + 2 or not all(map(_share, fractions)):
        return f"fractions must hold {len(edges) + 2} shares (one per bin, then missing values)"
    if not isinstance(ecdf, dict) or not _numbers(ecdf.get("values")) or not _count(ecdf.get("n")):
        return "ecdf must hold values and n"
    counts = ecdf.get("counts")
    if not _numbers(counts) or len(counts) != len(ecdf["values"]) or not all(_count(c) for c in counts):
        return "ecdf.counts must hold one count per value"
    return None


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(is_number(v) for v in values)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _share(value: Any) -> bool:
    return is_number(value) and 0 <= value <= 1
