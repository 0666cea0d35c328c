"""audit.stats against scipy, statsmodels and exact enumeration."""
from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from audit.stats import adjust_pvalues, binomial_test, clopper_pearson, two_sample_test


def _random_cases(count: int, seed: int) -> list[tuple[int, int, float]]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        n = int(rng.integers(1, 3000))
        k = int(rng.integers(0, n + 1))
        p = float(rng.choice([0.0, 1.0, rng.random()], p=[0.02, 0.02, 0.96]))
        cases.append((k, n, p))
    return cases


def test_binomial_test_matches_scipy_binomtest_on_thousands_of_cases() -> None:
    for k, n, p in _random_cases(3000, seed=1):
        for alternative in ("greater", "less", "two-sided"):
            expected = scipy_stats.binomtest(k, n, p, alternative=alternative).pvalue
            assert binomial_test(k, n, p, alternative=alternative) == pytest.approx(expected, abs=1e-9, rel=1e-9)


def test_clopper_pearson_matches_statsmodels_beta_on_thousands_of_cases() -> None:
    rng = np.random.default_rng(2)
    for k, n, _ in _random_cases(3000, seed=3):
        confidence = float(rng.choice([0.995, 0.95, 0.9, rng.uniform(0.5, 0.999)]))
        low, high = proportion_confint(k, n, alpha=1 - confidence, method="beta")
        interval = clopper_pearson(k, n, confidence)
        assert interval.low == pytest.approx(low, abs=1e-9)
        assert interval.high == pytest.approx(high, abs=1e-9)


def _exact_upper_tail(k: int, n: int, p: Fraction) -> Fraction:
    return sum((comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)), Fraction(0))


@pytest.mark.parametrize("n", [1, 5, 17, 40])
def test_binomial_test_matches_exact_enumeration(n: int) -> None:
    for p in (Fraction(1, 10), Fraction(1, 2), Fraction(7, 9)):
        for k in range(n + 1):
            exact = float(_exact_upper_tail(k, n, p))
            assert binomial_test(k, n, float(p), "greater") == pytest.approx(exact, abs=1e-12)


def test_clopper_pearson_endpoints_solve_the_defining_tail_equations() -> None:
    # low solves P(X >= k | low) = alpha/2; high solves P(X <= k | high) = alpha/2.
    for k, n in [(0, 10), (3, 10), (10, 10), (57, 200), (1, 1)]:
        interval = clopper_pearson(k, n, 0.995)
        if k > 0:
            assert scipy_stats.binom.sf(k - 1, n, interval.low) == pytest.approx(0.0025, abs=1e-9)
        else:
            assert interval.low == 0.0
        if k < n:
            assert scipy_stats.binom.cdf(k, n, interval.high) == pytest.approx(0.0025, abs=1e-9)
        else:
            assert interval.high == 1.0


@pytest.mark.parametrize("n", [1, 7, 30, 120])
def test_clopper_pearson_coverage_is_at_least_the_confidence(n: int) -> None:
    confidence = 0.995
    bounds = np.array([tuple(clopper_pearson(k, n, confidence)) for k in range(n + 1)])
    for p in np.linspace(0.0, 1.0, 101):
        covers = (bounds[:, 0] <= p) & (p <= bounds[:, 1])
        coverage = scipy_stats.binom.pmf(np.arange(n + 1), n, p)[covers].sum()
        assert coverage >= confidence - 1e-12, (n, p, coverage)


def test_interval_unpacks_and_names_its_fields() -> None:
    interval = clopper_pearson(3, 10)
    low, high = interval
    assert (low, high) == (interval.low, interval.high)
    assert interval.confidence == 0.995 and interval.estimate == pytest.approx(0.3)


@pytest.mark.parametrize("method", ["bonferroni", "holm", "fdr_bh"])
def test_adjust_pvalues_matches_statsmodels(method: str) -> None:
    rng = np.random.default_rng(4)
    for size in (1, 2, 5, 35, 200):
        p = np.round(rng.random(size) ** 3, 2)  # ties included
        np.testing.assert_allclose(adjust_pvalues(p, method), multipletests(p, method=method)[1], atol=1e-12)


def test_adjust_pvalues_by_definition_and_nan_handling() -> None:
    p = [0.01, 0.04, float("nan"), 0.03]
    bonferroni = adjust_pvalues(p, "bonferroni")
    np.testing.assert_allclose(bonferroni[[0, 1, 3]], [0.03, 0.12, 0.09])
    assert np.isnan(bonferroni[2])
    # Holm: sorted 0.01, 0.03, 0.04 multiplied by 3, 2, 1 with running maximum.
    np.testing.assert_allclose(adjust_pvalues(p, "holm")[[0, 3, 1]], [0.03, 0.06, 0.06])
    # Benjamini-Hochberg: min over j >= i of p_(j) m / j.
    np.testing.assert_allclose(adjust_pvalues(p, "fdr_bh")[[0, 3, 1]], [0.03, 0.04, 0.04])


def _exact_fisher_greater(a: int, n1: int, c: int, n2: int) -> float:
    total_correct = a + c
    n = n1 + n2
    denominator = comb(n, total_correct)
    top = min(n1, total_correct)
    return sum(comb(n1, x) * comb(n2, total_correct - x) for x in range(a, top + 1)) / denominator


def test_two_sample_fisher_matches_hypergeometric_enumeration() -> None:
    for a, n1, c, n2 in [(5, 6, 10, 30), (0, 4, 2, 9), (9, 9, 30, 30), (3, 10, 7, 10), (40, 50, 300, 500)]:
        assert two_sample_test(a, n1, c, n2, "fisher") == pytest.approx(_exact_fisher_greater(a, n1, c, n2), abs=1e-12)


def test_two_sample_boschloo_direction_and_agreement_with_scipy() -> None:
    strong = two_sample_test(9, 10, 3, 10, "boschloo")
    weak = two_sample_test(3, 10, 9, 10, "boschloo")
    assert strong < 0.05 < weak
    expected = scipy_stats.boschloo_exact([[9, 3], [1, 7]], alternative="greater").pvalue
    assert strong == pytest.approx(expected, abs=1e-12)
    # Boschloo is uniformly at least as powerful as Fisher.
    assert strong <= two_sample_test(9, 10, 3, 10, "fisher") + 1e-12
