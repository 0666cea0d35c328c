"""Paired comparison of two rates measured on the same images (class design: two label sets).

- Interval of the difference p1 - p2 of paired proportions: Newcombe (1998), "Improved confidence
  intervals for the difference between binomial proportions based on paired data", Statistics in
  Medicine 17, 2635-2650, method 10 (square-and-add of Wilson score intervals with the
  continuity-corrected correlation phi*).
- Test of p1 = p2: exact McNemar test (McNemar 1947), the two-sided binomial test of the discordant
  pairs b against Binomial(b + c, 1/2), as ``statsmodels.stats.contingency_tables.mcnemar(exact=True)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson (1927) score interval of k / n."""
    z = float(_scipy_stats.norm.isf((1.0 - confidence) / 2.0))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PairedDifference:
    """p1 - p2 on the same n images, its Newcombe interval and the exact McNemar p-value."""

    n: int
    both: int  # a: positive under both
    only_first: int  # b: positive under the first only
    only_second: int  # c: positive under the second only
    neither: int  # d
    confidence: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def rate_first(self) -> float:
        """p1 = (a + b) / n."""
        return (self.both + self.only_first) / self.n

    @property
    def rate_second(self) -> float:
        """p2 = (a + c) / n."""
        return (self.both + self.only_second) / self.n


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c."""
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    return float(min(1.0, 2.0 * _scipy_stats.binom.cdf(min(only_first, only_second), discordant, 0.5)))


def newcombe_paired_interval(both: int, only_first: int, only_second: int, neither: int,
                             confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's (1998) method-10 interval for p1 - p2 from the paired 2x2 counts a, b, c, d."""
    a, b, c, d = (int(v) for v in (both, only_first, only_second, neither))
    if min(a, b, c, d) < 0:
        raise ValueError(f"paired counts must be non-negative, got {(a, b, c, d)}")
    n = a + b + c + d
    if n == 0:
        raise ValueError("paired counts: no images")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _wilson(a + b, n, confidence)
    l2, u2 = _wilson(a + c, n, confidence)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if margins > 0:
        cross = a * d - b * c
        corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
        phi = corrected / math.sqrt(margins)
    diff = p1 - p2
    low = diff - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = diff + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return max(-1.0, low), min(1.0, high)


def paired_difference(first: np.ndarray, second: np.ndarray, confidence: float = 0.95) -> PairedDifference:
    """Compare two 0/1 outcomes of the same images: difference, Newcombe interval, exact McNemar test."""
    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired outcomes must be two vectors of one length, got {first.shape} and {second.shape}")
    a = int(np.sum(first & second))
    b = int(np.sum(first & ~second))
    c = int(np.sum(~first & second))
    d = int(np.sum(~first & ~second))
    low, high = newcombe_paired_interval(a, b, c, d, confidence)
    return PairedDifference(n=a + b + c + d, both=a, only_first=b, only_second=c, neither=d, confidence=confidence,
                            difference=(b - c) / (a + b + c + d), ci_low=low, ci_high=high,
                            p_value=mcnemar_exact(b, c))
