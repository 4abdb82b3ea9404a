"""Drift of new rows from a training profile (``profile.json``): PSI per binned number or category, and the
two-sample Kolmogorov-Smirnov distance for numbers.

    items = compare_profile(profile, frame, predictions)     # one dict per feature and prediction

* ``psi``: the population stability index, ``sum((now - then) * ln(now / then))`` over the bins (numbers:
  the training deciles plus a bin for missing values; categories: each training category, ``<missing>``
  and ``<other>`` for categories training never saw), each share floored at ``EPS`` so an empty bin counts
  but does not make it infinite. Rules of thumb: below 0.1 stable, 0.1 to 0.25 a shift, above 0.25 a
  large shift.
* ``ks``: ``max |F_now(x) - F_then(x)|`` over the values present; exact when the profile kept every
  distinct training value, else within 1/(ECDF_POINTS - 1).
* ``noise``: the PSI that sampling alone reaches in 95% of cases: the 95th percentile of the PSI between
  two samples of the training shares, one of the training rows' size and one of the input's (seeded).
  A PSI under it cannot be told from chance; few input rows raise it, since a bin left empty costs much.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mltrain.monitoring.profile import MISSING, category_shares, numeric_fractions

EPS = 1e-4  # floor of a bin's share in the PSI
NOISE_DRAWS = 200  # pairs of samples drawn to estimate the PSI of chance
OTHER = "<other>"


def psi(then: np.ndarray, now: np.ndarray) -> float:
    """Population stability index of two vectors of bin shares (or rows of them: one PSI per row)."""
    then, now = np.maximum(np.asarray(then, float), EPS), np.maximum(np.asarray(now, float), EPS)
    values = np.sum((now - then) * np.log(now / then), axis=-1)
    return float(values) if np.ndim(values) == 0 else values


def psi_noise(then: np.ndarray, rows_then: int, rows_now: int, seed: int = 0) -> float:
    """The 95th percentile of the PSI between samples of ``rows_then`` and ``rows_now`` rows drawn from the
    shares ``then``: how high the PSI of unchanged data goes by chance."""
    shares = np.asarray(then, float) / max(float(np.sum(then)), EPS)
    rng = np.random.default_rng(seed)
    a = rng.multinomial(max(rows_then, 1), shares, size=NOISE_DRAWS) / max(rows_then, 1)
    b = rng.multinomial(max(rows_now, 1), shares, size=NOISE_DRAWS) / max(rows_now, 1)
    return float(np.quantile(psi(a, b), 0.95))


def ks_distance(ecdf: dict[str, Any], values: np.ndarray) -> float | None:
    """The KS distance of ``values`` (NaN ignored) from a profile's ECDF; ``None`` if either is empty."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    values = values[~np.isnan(values)]
    if not len(values) or not ecdf["n"]:
        return None
    points = np.asarray(ecdf["values"], dtype=np.float64)
    cdf = np.asarray(ecdf["counts"], dtype=np.float64) / ecdf["n"]
    at = np.concatenate([points, values])  # both step functions only change at these points
    index = np.searchsorted(points, at, side="right") - 1
    then = np.where(index >= 0, cdf[np.maximum(index, 0)], 0.0)
    now = np.searchsorted(values, at, side="right") / len(values)
    return float(np.max(np.abs(now - then)))


def compare_numeric(item: dict[str, Any], values: np.ndarray) -> dict[str, Any]:
    """PSI, KS and the bin shares then and now of a numeric column or prediction."""
    values = np.asarray(values, dtype=np.float64)
    then, now = np.asarray(item["fractions"]), numeric_fractions(item, values)
    ks = ks_distance(item["ecdf"], values)
    return _scores(then, now, _bin_labels(item["edges"]), item["rows"], len(values), ks)


def compare_categorical(item: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    """PSI and the shares then and now of each category (``<other>``: categories training never saw)."""
    shares = category_shares(values)
    known = list(item["fractions"])
    labels = known + ([MISSING] if MISSING not in known else []) + [OTHER]
    then = np.array([item["fractions"].get(k, 0.0) for k in labels])
    unseen = sum(v for k, v in shares.items() if k not in labels)
    now = np.array([shares.get(k, 0.0) for k in labels[:-1]] + [unseen])
    return _scores(then, now, labels, item["rows"], len(values), None)


def compare_profile(
    profile: dict[str, Any], frame: pd.DataFrame, predictions: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry per feature column and per profiled prediction: name, source, type, psi, ks, bins."""
    items = []
    for source, columns in (("feature", frame), ("prediction", predictions)):
        for name, item in profile["features" if source == "feature" else "predictions"].items():
            if name not in columns:  # no predictions: no row the model can score
                continue
            values = columns[name]
            numeric = item["type"] == "numeric"
            scores = compare_numeric(item, values) if numeric else compare_categorical(item, values)
            items.append({"name": name, "source": source, "type": item["type"], **scores})
    return items


def _scores(
    then: np.ndarray, now: np.ndarray, labels: list[str], rows_then: int, rows_now: int, ks: float | None
) -> dict[str, Any]:
    """The item's scores, and its bins for people (a missing-value bin only when either side has some)."""
    shown = [j for j, label in enumerate(labels) if label != MISSING or then[j] > 0 or now[j] > 0]
    bins = {
        "labels": [labels[j] for j in shown],
        "training": then[shown].tolist(),
        "now": now[shown].tolist(),
    }
    noise = psi_noise(then, rows_then, rows_now)
    return {"psi": psi(then, now), "ks": ks, "noise": noise, "rows": rows_now, "bins": bins}


def _bin_labels(edges: list[float]) -> list[str]:
    """``<= e0``, ``(e0, e1]``, ..., ``> e_last``, ``<missing>``."""
    if not edges:
        return ["all", MISSING]
    inner = [f"({a:.4g}, {b:.4g}]" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [f"<= {edges[0]:.4g}", *inner, f"> {edges[-1]:.4g}", MISSING]
