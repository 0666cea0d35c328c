"""Rates by group: counts, Clopper-Pearson intervals against statsmodels, spread figures, empty groups."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from audit.probes.disaggregated import RATE_COLUMNS, disaggregate, rates_table


def test_rates_and_intervals_match_statsmodels():
    rng = np.random.default_rng(3)
    groups = rng.choice(["a", "b", "c"], size=400, p=[0.5, 0.3, 0.2])
    outcomes = (rng.random((400, 2)) < np.where(groups == "a", 0.6, 0.2)[:, None]).astype(int)
    rates = disaggregate(outcomes, groups, "race", ["x", "y"], ("a", "b", "c", "d"), confidence=0.9)
    for column, rate in enumerate(rates):
        for g in rate.groups[:3]:
            mask = groups == g.group
            assert g.n == mask.sum() and g.count == outcomes[mask, column].sum()
            low, high = proportion_confint(g.count, g.n, alpha=0.1, method="beta")
            assert g.rate == pytest.approx(g.count / g.n)
            assert (g.ci_low, g.ci_high) == pytest.approx((low, high), abs=1e-12)
        assert rate.group("d").n == 0 and rate.group("d").rate is None
        assert rate.empty_groups == ["d"]
        present = [g.rate for g in rate.groups[:3]]
        assert rate.overall.count == outcomes[:, column].sum() and rate.overall.n == 400
        assert rate.max_difference == pytest.approx(max(present) - min(present))
        assert rate.max_ratio == pytest.approx(max(present) / min(present))
        assert rate.min_max_ratio == pytest.approx(min(present) / max(present))
    assert rates[0].highest.group == "a"


def test_rates_table_has_the_documented_columns_and_extra_columns_last():
    rates = disaggregate(np.array([1, 0, 1]), ["p", "q", "q"], "gender", ["c"], ("p", "q"))
    table = rates_table("probe", [r.with_extra(label_set="default") for r in rates])
    assert list(table.columns) == [*RATE_COLUMNS, "label_set"]
    assert table["count"].tolist() == [1, 1] and table["n"].tolist() == [1, 2]


def test_separation_and_bad_input():
    outcomes = np.r_[np.ones(40), np.zeros(40)].astype(int)
    rates = disaggregate(outcomes, ["hi"] * 40 + ["lo"] * 40, "race", ["c"], ("hi", "lo"))[0]
    assert rates.separated_highest()
    tied = disaggregate(np.zeros(10, dtype=int), ["a"] * 5 + ["b"] * 5, "race", ["c"], ("a", "b"))[0]
    assert not tied.separated_highest()
    with pytest.raises(ValueError, match="groups \\['z'\\]"):
        disaggregate(np.ones(2, dtype=int), ["a", "z"], "race", ["c"], ("a",))
    with pytest.raises(ValueError, match="0/1"):
        disaggregate(np.array([2, 0]), ["a", "a"], "race", ["c"], ("a",))
    with pytest.raises(ValueError, match="no images"):
        disaggregate(np.zeros((0, 1), dtype=int), pd.Series([], dtype=object), "race", ["c"], ("a",))
