"""Bootstrap interval of acc(All) - acc(Clean)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from audit.stats import bootstrap_all_minus_clean


def test_bootstrap_agrees_with_per_example_resampling_by_scipy() -> None:
    k_o, n_o, k_c, n_c = 80, 100, 600, 900
    overlap = np.r_[np.ones(k_o), np.zeros(n_o - k_o), np.ones(k_c), np.zeros(n_c - k_c)]
    in_overlap = np.r_[np.ones(n_o, bool), np.zeros(n_c, bool)]

    def statistic(index: np.ndarray) -> float:
        correct, split = overlap[index.astype(int)], in_overlap[index.astype(int)]
        return correct.mean() - correct[~split].mean()

    reference = scipy_stats.bootstrap(
        (np.arange(n_o + n_c),), statistic, vectorized=False, n_resamples=3000,
        confidence_level=0.95, method="percentile", random_state=np.random.default_rng(0),
    ).confidence_interval
    ours = bootstrap_all_minus_clean(k_o, n_o, k_c, n_c, confidence=0.95, n_resamples=20000, seed=1)
    assert ours.estimate == pytest.approx(0.68 - 600 / 900)
    assert ours.low == pytest.approx(reference.low, abs=0.004)
    assert ours.high == pytest.approx(reference.high, abs=0.004)


def test_bootstrap_is_deterministic_by_seed_and_unpacks() -> None:
    first = bootstrap_all_minus_clean(30, 40, 500, 1000, seed=7)
    second = bootstrap_all_minus_clean(30, 40, 500, 1000, seed=7)
    assert first == second
    low, high = first
    assert low <= first.estimate <= high


def test_bootstrap_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(3)
    n_all, f, acc_o, acc_c = 400, 0.2, 0.8, 0.6
    truth = f * (acc_o - acc_c)
    hits, trials = 0, 300
    for trial in range(trials):
        n_o = rng.binomial(n_all, f)
        k_o, k_c = rng.binomial(n_o, acc_o), rng.binomial(n_all - n_o, acc_c)
        interval = bootstrap_all_minus_clean(k_o, n_o, k_c, n_all - n_o, confidence=0.9, n_resamples=2000, seed=trial)
        hits += interval.low <= truth <= interval.high
    assert 0.84 <= hits / trials <= 0.96
