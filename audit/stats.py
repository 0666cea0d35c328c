"""Statistics of the contamination audit (Radford et al. 2021, section 5 and appendix C).

Every function validates its input and raises ``ValueError`` naming the offending argument.
Methods and their sources:

- Clopper-Pearson interval: Clopper & Pearson (1934), "The use of confidence or fiducial limits
  illustrated in the case of the binomial", Biometrika 26(4). Beta-quantile form, as in
  ``statsmodels.stats.proportion.proportion_confint(method="beta")``.
- One-sample binomial test: exact tail sums of the binomial distribution, as in
  ``scipy.stats.binomtest`` (the paper's test of acc(Overlap) against acc(Clean)).
- Multiple-testing corrections: Bonferroni; Holm (1979), "A simple sequentially rejective multiple
  test procedure", Scand. J. Statist. 6(2); Benjamini & Hochberg (1995), "Controlling the false
  discovery rate", JRSS-B 57(1). Same definitions as ``statsmodels.stats.multitest.multipletests``
  (computed here directly: that function runs a garbage collection on every call).
- Two-sample exact tests of acc(Overlap) > acc(Clean) that do not treat acc(Clean) as exact:
  Fisher (1935) conditional exact test (``scipy.stats.fisher_exact``) and Boschloo (1970),
  "Raised conditional level of significance for the 2x2-table when testing the equality of two
  probabilities", Statistica Neerlandica 24 (``scipy.stats.boschloo_exact``).
- Bootstrap interval of acc(All) - acc(Clean): Efron & Tibshirani (1993), "An Introduction to the
  Bootstrap", percentile interval; examples are resampled with replacement, which for 0/1 outcomes
  in two strata is exactly a multinomial draw over the four (split, correct) cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Sequence

import numpy as np
from scipy import stats as _scipy_stats

Alternative = Literal["greater", "less", "two-sided"]
AdjustMethod = Literal["bonferroni", "holm", "fdr_bh"]
TwoSampleMethod = Literal["fisher", "boschloo"]

_ALTERNATIVES = ("greater", "less", "two-sided")
_ADJUST_METHODS = ("bonferroni", "holm", "fdr_bh")


def _check_count(name: str, value: int) -> int:
    """Validate a non-negative integer count."""
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def _check_counts(k: int, n: int, k_name: str = "k", n_name: str = "n") -> tuple[int, int]:
    """Validate a pair of counts with 0 <= k <= n and n > 0."""
    k = _check_count(k_name, k)
    n = _check_count(n_name, n)
    if n == 0:
        raise ValueError(f"{n_name} must be positive to estimate a rate, got 0")
    if k > n:
        raise ValueError(f"{k_name} ({k}) must not exceed {n_name} ({n})")
    return k, n


def _check_confidence(confidence: float) -> float:
    """Validate a confidence level strictly between 0 and 1."""
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return float(confidence)


@dataclass(frozen=True)
class ProportionInterval:
    """A two-sided interval for a binomial proportion; unpacks as ``(low, high)``."""

    low: float
    high: float
    k: int
    n: int
    confidence: float
    method: str

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))

    @property
    def estimate(self) -> float:
        """The point estimate k / n."""
        return self.k / self.n


def clopper_pearson(k: int, n: int, confidence: float = 0.995) -> ProportionInterval:
    """Exact (Clopper-Pearson) interval for k successes in n trials, 99.5% by default."""
    k, n = _check_counts(k, n)
    alpha = 1.0 - _check_confidence(confidence)
    low = 0.0 if k == 0 else float(_scipy_stats.beta.ppf(alpha / 2.0, k, n - k + 1))
    high = 1.0 if k == n else float(_scipy_stats.beta.isf(alpha / 2.0, k + 1, n - k))
    return ProportionInterval(low=low, high=high, k=k, n=n, confidence=confidence, method="clopper-pearson")


def binomial_test(k: int, n: int, p0: float, alternative: Alternative = "greater") -> float:
    """Exact binomial test p-value of k successes in n trials against success probability p0."""
    k, n = _check_counts(k, n)
    if not 0.0 <= float(p0) <= 1.0 or np.isnan(p0):
        raise ValueError(f"p0 must lie in [0, 1], got {p0!r}")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    if alternative == "greater":
        return float(min(1.0, _scipy_stats.binom.sf(k - 1, n, p0)))
    if alternative == "less":
        return float(min(1.0, _scipy_stats.binom.cdf(k, n, p0)))
    return float(_scipy_stats.binomtest(k, n, p0, alternative="two-sided").pvalue)


def _adjust_sorted(p: np.ndarray, method: str) -> np.ndarray:
    """Adjusted values of p-values sorted ascending (m = len(p))."""
    m = p.size
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    if method == "holm":  # step-down: running maximum of (m - j + 1) p_(j)
        return np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p))
    # Benjamini-Hochberg step-up: running minimum from the top of m p_(j) / j
    return np.minimum(1.0, np.minimum.accumulate((m * p / np.arange(1, m + 1))[::-1])[::-1])


def adjust_pvalues(pvalues: Sequence[float], method: AdjustMethod) -> np.ndarray:
    """Adjust a family of p-values for multiple testing; NaN entries stay NaN and are not counted.

    Same definitions as ``statsmodels.stats.multitest.multipletests`` (and tested against it).
    """
    if method not in _ADJUST_METHODS:
        raise ValueError(f"method must be one of {_ADJUST_METHODS}, got {method!r}")
    values = np.asarray(pvalues, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional, got shape {values.shape}")
    present = np.flatnonzero(~np.isnan(values))
    if np.any((values[present] < 0.0) | (values[present] > 1.0)):
        raise ValueError("pvalues must lie in [0, 1]")
    adjusted = np.full_like(values, np.nan)
    order = present[np.argsort(values[present], kind="mergesort")]
    adjusted[order] = _adjust_sorted(values[order], method)
    return adjusted


def _two_by_two(k_overlap: int, n_overlap: int, k_clean: int, n_clean: int) -> np.ndarray:
    """The table [[correct, wrong] for Overlap, [correct, wrong] for Clean]."""
    k_overlap, n_overlap = _check_counts(k_overlap, n_overlap, "k_overlap", "n_overlap")
    k_clean, n_clean = _check_counts(k_clean, n_clean, "k_clean", "n_clean")
    return np.array([[k_overlap, n_overlap - k_overlap], [k_clean, n_clean - k_clean]], dtype=np.int64)


def two_sample_test(
    k_overlap: int, n_overlap: int, k_clean: int, n_clean: int, method: TwoSampleMethod = "fisher"
) -> float:
    """One-sided exact p-value for acc(Overlap) > acc(Clean), both treated as estimates."""
    table = _two_by_two(k_overlap, n_overlap, k_clean, n_clean)
    if method == "fisher":
        return float(_scipy_stats.fisher_exact(table, alternative="greater").pvalue)
    if method == "boschloo":
        # scipy compares the columns' success rates, so the samples go in columns.
        return float(_scipy_stats.boschloo_exact(table.T, alternative="greater").pvalue)
    raise ValueError(f"method must be 'fisher' or 'boschloo', got {method!r}")


@dataclass(frozen=True)
class BootstrapInterval:
    """A bootstrap percentile interval for acc(All) - acc(Clean); unpacks as ``(low, high)``."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))


def bootstrap_all_minus_clean(
    k_overlap: int,
    n_overlap: int,
    k_clean: int,
    n_clean: int,
    confidence: float = 0.995,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> BootstrapInterval:
    """Percentile bootstrap interval for acc(All) - acc(Clean), resampling examples of All."""
    table = _two_by_two(k_overlap, n_overlap, k_clean, n_clean)
    alpha = 1.0 - _check_confidence(confidence)
    n_resamples = _check_count("n_resamples", n_resamples)
    if n_resamples < 1:
        raise ValueError("n_resamples must be positive")
    n_all = n_overlap + n_clean
    cells = table.ravel() / n_all  # overlap-correct, overlap-wrong, clean-correct, clean-wrong
    draws = np.random.default_rng(seed).multinomial(n_all, cells, size=n_resamples)
    resampled_clean = draws[:, 2] + draws[:, 3]
    usable = resampled_clean > 0
    acc_all = (draws[usable, 0] + draws[usable, 2]) / n_all
    acc_clean = draws[usable, 2] / resampled_clean[usable]
    differences = acc_all - acc_clean
    estimate = (k_overlap + k_clean) / n_all - k_clean / n_clean
    low, high = np.quantile(differences, [alpha / 2.0, 1.0 - alpha / 2.0])
    return BootstrapInterval(
        estimate=float(estimate), low=float(low), high=float(high),
        confidence=confidence, n_resamples=n_resamples, seed=seed,
    )
