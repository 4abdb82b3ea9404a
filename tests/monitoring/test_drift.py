"""The drift numbers of ``mltrain monitor`` against references computed another way: SciPy's two-sample KS
statistic, relative entropy and chi-square distribution, and pandas' binning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr
from scipy.stats import chi2, ks_2samp

from mltrain.monitoring.drift import EPS, compare_categorical, compare_numeric, ks_distance, psi, psi_noise
from mltrain.monitoring.profile import ECDF_POINTS, categorical_profile, numeric_profile


def reference_psi(train: np.ndarray, new: np.ndarray, edges: list[float]) -> float:
    """PSI = KL(now || then) + KL(then || now), the bins counted by ``pandas.cut`` (right-closed)."""
    cuts = [-np.inf, *edges, np.inf]

    def shares(values: np.ndarray) -> np.ndarray:
        counts = pd.cut(pd.Series(values), cuts, right=True).value_counts(sort=False).to_numpy()
        return np.append(counts, np.isnan(values).sum()) / len(values)

    then, now = np.maximum(shares(train), EPS), np.maximum(shares(new), EPS)
    return float(rel_entr(now, then).sum() + rel_entr(then, now).sum())


def test_numeric_psi_and_ks_match_pandas_bins_and_scipy() -> None:
    rng = np.random.default_rng(1)
    train = np.round(rng.normal(10, 2, 400), 1)  # under ECDF_POINTS distinct values: the KS is exact
    new = np.round(rng.normal(10.8, 2.5, 150), 1)
    new[:7] = np.nan
    profile = numeric_profile(train)

    scores = compare_numeric(profile, new)

    assert profile["ecdf"]["exact"]
    assert profile["edges"] == pytest.approx(np.quantile(train, np.linspace(0.1, 0.9, 9)))
    assert scores["psi"] == pytest.approx(reference_psi(train, new, profile["edges"]), rel=1e-12)
    assert scores["ks"] == pytest.approx(ks_2samp(train, new[~np.isnan(new)]).statistic, abs=1e-12)
    assert scores["bins"]["now"][-1] == pytest.approx(7 / 150)  # the missing-value bin
    assert 0.1 < scores["psi"] < 2 and 0.1 < scores["ks"] < 0.5  # a real shift, not a degenerate case


def test_ks_from_quantiles_is_within_one_step_of_scipy() -> None:
    rng = np.random.default_rng(2)
    train, new = rng.normal(0, 1, 5000), rng.normal(0.3, 1, 800)
    profile = numeric_profile(train)

    assert not profile["ecdf"]["exact"] and len(profile["ecdf"]["values"]) <= ECDF_POINTS
    exact = ks_2samp(train, new).statistic
    assert abs(ks_distance(profile["ecdf"], new) - exact) <= 1 / (ECDF_POINTS - 1)
    assert ks_distance(profile["ecdf"], train) <= 1 / (ECDF_POINTS - 1)  # itself: about 0


def test_categorical_psi_counts_missing_and_unseen_categories() -> None:
    train = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + [None] * 5)
    new = pd.Series(["a"] * 20 + ["b"] * 40 + ["z"] * 10 + [None] * 30)  # "c" gone, "z" never seen

    scores = compare_categorical(categorical_profile(train), new)

    by_label = dict(zip(scores["bins"]["labels"], scores["bins"]["now"], strict=True))
    assert by_label == pytest.approx({"a": 0.2, "b": 0.4, "c": 0.0, "<missing>": 0.3, "<other>": 0.1})
    then = np.array([0.5, 0.3, 0.15, 0.05, 0.0])
    now = np.array([0.2, 0.4, 0.0, 0.3, 0.1])
    then_f, now_f = np.maximum(then, EPS), np.maximum(now, EPS)
    expected = rel_entr(now_f, then_f).sum() + rel_entr(then_f, now_f).sum()
    assert scores["psi"] == pytest.approx(expected, rel=1e-12) and scores["ks"] is None


def test_psi_of_identical_shares_is_zero_and_symmetric() -> None:
    a, b = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    assert psi(a, a) == 0.0
    assert psi(a, b) == pytest.approx(psi(b, a))


def test_psi_noise_matches_the_chi_square_approximation_for_large_samples() -> None:
    """For large samples PSI ~ chi2(bins - 1) * (1/n + 1/m): its 95th percentile is the reference."""
    shares, n, m = np.full(10, 0.1), 20_000, 5_000
    expected = chi2.ppf(0.95, df=9) * (1 / n + 1 / m)
    assert psi_noise(shares, n, m) == pytest.approx(expected, rel=0.15)


def test_psi_noise_holds_for_real_unchanged_samples() -> None:
    """About 95% of fresh samples of the same distribution stay under the noise level."""
    rng = np.random.default_rng(3)
    profile = numeric_profile(rng.normal(size=2000))
    noise = compare_numeric(profile, rng.normal(size=300))["noise"]
    below = [compare_numeric(profile, rng.normal(size=300))["psi"] <= noise for _ in range(200)]
    assert 0.88 <= np.mean(below) <= 0.995
