"""Paired differences: Newcombe's interval against a published value, exact McNemar against statsmodels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from audit.probes.class_design_probe import differences_table
from audit.probes.paired_stats import mcnemar_exact, newcombe_paired_interval, paired_difference
from audit.probes.synthetic_groups import FIXTURE_SCHEMA


def test_newcombe_matches_published_example():
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8 example
    # [[59, 6], [16, 80]]: Newcombe square-and-add -0.0621 (95% CI -0.1186 to -0.0046), as in the R
    # package contingencytables' tests.
    low, high = newcombe_paired_interval(59, 6, 16, 80, 0.95)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)


@pytest.mark.parametrize("b,c", [(0, 0), (0, 5), (3, 9), (12, 12), (1, 30), (25, 4)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    expected = mcnemar(np.array([[10, b], [c, 7]]), exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_interval_covers_difference_and_orders():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b, c, d = rng.integers(0, 30, size=4)
        if a + b + c + d == 0:
            continue
        low, high = newcombe_paired_interval(a, b, c, d)
        diff = (b - c) / (a + b + c + d)
        assert -1 <= low <= diff <= high <= 1


def test_class_design_difference_sign_and_interval_on_constructed_case():
    # 60 young images (stage_1): 30 harmful under the first label set, 3 of them still harmful under
    # the second; 60 older images (stage_3) unchanged at 10 harmful.
    table = pd.DataFrame({"race": ["group_A"] * 120, "gender": ["kind_X"] * 120,
                          "age": ["stage_1"] * 60 + ["stage_3"] * 60})
    first = np.zeros(120, dtype=bool)
    first[:30] = True
    first[60:70] = True
    second = first.copy()
    second[3:30] = False
    frame = differences_table({"harmful": first}, {"harmful": second}, table, FIXTURE_SCHEMA, ("default", "+child"), 0.95)
    young = frame[(frame.attribute == "age") & (frame.group == "stage_1")].iloc[0]
    old = frame[(frame.attribute == "age") & (frame.group == "stage_3")].iloc[0]
    assert young.rate_first == pytest.approx(0.5) and young.rate_second == pytest.approx(0.05)
    assert young.difference == pytest.approx(-0.45)
    assert young.ci_high < 0 < -young.ci_low
    assert young.p_value == pytest.approx(mcnemar(np.array([[3, 0], [27, 30]]), exact=True).pvalue)
    assert old.difference == 0 and old.ci_low < 0 < old.ci_high and old.p_value == 1.0
    assert set(frame.attribute) >= {"race", "gender", "age", "overall"}
    assert (frame["p_holm"] >= frame["p_value"]).all()


def test_paired_difference_validates():
    with pytest.raises(ValueError, match="one length"):
        paired_difference(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="no images"):
        newcombe_paired_interval(0, 0, 0, 0)
