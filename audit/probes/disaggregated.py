"""A rate disaggregated by group, in the spirit of fairlearn's ``MetricFrame`` (Bird et al. 2020).

The grouping is fairlearn's own ``MetricFrame`` (counts of images and of positive outcomes per
group, several outcomes at once); every rate carries a Clopper-Pearson interval from
``audit.stats.clopper_pearson`` (Clopper & Pearson 1934), 95% unless asked. Like ``MetricFrame``
the summary holds the overall rate, the smallest and largest group rate, their difference
(``MetricFrame.difference(method="between_groups")``) and ratio. Groups of the schema with no
image are kept with n = 0 and an empty rate and listed in ``empty_groups``; they take no part in
min, max, difference or ratio.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from audit.stats import clopper_pearson

RATE_COLUMNS = ("probe", "category", "attribute", "group", "n", "count", "rate", "ci_low", "ci_high")


@dataclass(frozen=True)
class GroupRate:
    """count of n images in one group, the rate and its interval (None when n = 0)."""

    group: str
    n: int
    count: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def of(cls, group: str, count: int, n: int, confidence: float) -> "GroupRate":
        """The rate count / n with its Clopper-Pearson interval."""
        if n == 0:
            return cls(group, 0, 0, None, None, None)
        interval = clopper_pearson(int(count), int(n), confidence)
        return cls(group, int(n), int(count), int(count) / int(n), interval.low, interval.high)

    def to_dict(self) -> dict:
        """Plain dict (JSON)."""
        return {"group": self.group, "n": self.n, "count": self.count, "rate": self.rate,
                "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class DisaggregatedRate:
    """One metric (category) by the groups of one attribute, with the overall rate and spread figures."""

    category: str
    attribute: str
    groups: tuple[GroupRate, ...]
    overall: GroupRate
    confidence: float
    extra: tuple[tuple[str, object], ...] = ()  # identifying columns beyond category/attribute (label_set, ...)

    def with_extra(self, **fields: object) -> "DisaggregatedRate":
        """A copy carrying extra identifying columns, e.g. label_set="default"."""
        return replace(self, extra=self.extra + tuple(fields.items()))

    def _present(self) -> list[GroupRate]:
        return [g for g in self.groups if g.n > 0]

    @property
    def empty_groups(self) -> list[str]:
        """Groups of the attribute with no image."""
        return [g.group for g in self.groups if g.n == 0]

    @property
    def lowest(self) -> GroupRate:
        """The group with the smallest rate (first in group order on ties)."""
        return min(self._present(), key=lambda g: g.rate)

    @property
    def highest(self) -> GroupRate:
        """The group with the largest rate (first in group order on ties)."""
        return max(self._present(), key=lambda g: g.rate)

    @property
    def max_difference(self) -> float:
        """Largest minus smallest group rate (MetricFrame's between-groups difference)."""
        return self.highest.rate - self.lowest.rate

    @property
    def max_ratio(self) -> float | None:
        """Largest over smallest group rate; None when the smallest rate is 0."""
        return None if self.lowest.rate == 0 else self.highest.rate / self.lowest.rate

    @property
    def min_max_ratio(self) -> float | None:
        """Smallest over largest group rate (MetricFrame's between-groups ratio); None when both are 0."""
        return None if self.highest.rate == 0 else self.lowest.rate / self.highest.rate

    def group(self, name: str) -> GroupRate:
        """The rate of one group."""
        for g in self.groups:
            if g.group == name:
                return g
        raise KeyError(f"{self.category}/{self.attribute}: no group {name!r}")

    def separated_highest(self) -> bool:
        """Whether the highest group's interval lies entirely above every other group's interval."""
        top = self.highest
        return all(top.ci_low > g.ci_high for g in self._present() if g.group != top.group)

    def rows(self, probe: str) -> list[dict]:
        """rates.csv rows: one per group."""
        return [{"probe": probe, "category": self.category, "attribute": self.attribute, **g.to_dict(),
                 **dict(self.extra)} for g in self.groups]

    def summary(self) -> dict:
        """summary.json entry: overall, min, max, max difference and ratios."""
        return {"category": self.category, "attribute": self.attribute, **dict(self.extra),
                "confidence": self.confidence,
                "overall": {k: v for k, v in self.overall.to_dict().items() if k != "group"},
                "min": self.lowest.rate, "min_group": self.lowest.group,
                "max": self.highest.rate, "max_group": self.highest.group,
                "max_difference": self.max_difference, "max_ratio": self.max_ratio,
                "min_max_ratio": self.min_max_ratio, "empty_groups": self.empty_groups}


def _count(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return np.asarray(y_true, dtype=np.int64).sum(axis=0)


def _size(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return len(y_true)


def disaggregate(outcomes: np.ndarray, groups: Sequence[str], attribute: str, categories: Sequence[str],
                 group_order: Sequence[str], confidence: float = 0.95) -> list[DisaggregatedRate]:
    """Rates of each outcome column (one per category) by group; outcomes is [N] or [N, len(categories)] of 0/1."""
    outcomes = np.asarray(outcomes)
    if outcomes.ndim == 1:
        outcomes = outcomes[:, None]
    if outcomes.shape[1] != len(categories):
        raise ValueError(f"{attribute}: {outcomes.shape[1]} outcome columns but {len(categories)} categories")
    groups = pd.Series(list(groups), name=attribute, dtype=object)
    if len(groups) != outcomes.shape[0]:
        raise ValueError(f"{attribute}: {len(groups)} group labels for {outcomes.shape[0]} outcomes")
    if len(groups) == 0:
        raise ValueError(f"{attribute}: no images to disaggregate")
    unknown = sorted(set(groups) - set(group_order))
    if unknown:
        raise ValueError(f"{attribute}: groups {unknown[:5]} are not among {list(group_order)}")
    if not np.isin(outcomes, (0, 1)).all():
        raise ValueError(f"{attribute}: outcomes must be 0/1")
    frame = MetricFrame(metrics={"n": _size, "count": _count}, y_true=outcomes.astype(np.int64),
                        y_pred=outcomes.astype(np.int64), sensitive_features=groups)
    by_group = frame.by_group
    results = []
    for column, category in enumerate(categories):
        rates = []
        for name in group_order:
            if name in by_group.index:
                n, counts = by_group.loc[name, "n"], np.atleast_1d(by_group.loc[name, "count"])
                rates.append(GroupRate.of(name, int(counts[column]), int(n), confidence))
            else:
                rates.append(GroupRate.of(name, 0, 0, confidence))
        overall_counts = np.atleast_1d(frame.overall["count"])
        overall = GroupRate.of("overall", int(overall_counts[column]), int(frame.overall["n"]), confidence)
        results.append(DisaggregatedRate(category, attribute, tuple(rates), overall, confidence))
    return results


def rates_table(probe: str, rates: Sequence[DisaggregatedRate]) -> pd.DataFrame:
    """The rates.csv table: the standard columns, then the rates' extra columns (label_set, threshold)."""
    rows = [row for rate in rates for row in rate.rows(probe)]
    extra = list(dict.fromkeys(name for rate in rates for name, _ in rate.extra))
    return pd.DataFrame(rows, columns=[*RATE_COLUMNS, *extra])
