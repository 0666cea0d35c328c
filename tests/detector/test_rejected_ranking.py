"""The ranking of rejected pairs: margins over a query's candidates and the logistic odds of a copy."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from audit.overlap_verify import item_margins
from detector.verify import DEFAULT_SCORE_RULE, RejectedRanking, ScoreRule, candidate_margins

RULE = ScoreRule(global_threshold=0.8)
unit = st.floats(0.0, 1.0, allow_nan=False)
similarities = st.floats(-1.0, 1.0, allow_nan=False)


def _rejected(rule: ScoreRule, g: float, margin: float, correlation: float = 0.0, overlap: float = 0.0) -> float:
    return float(rule.scores(np.array([g]), np.array(["rejected"]), np.array([0]), np.array([0.0]), np.array([margin]),
                             np.array([correlation]), np.array([overlap]))[0])


def test_margins_are_against_the_best_other_candidate() -> None:
    assert candidate_margins([0.9, 0.7, 0.95, 0.3]) == pytest.approx([-0.05, -0.25, 0.05, -0.65])
    assert candidate_margins([0.6, 0.6]) == pytest.approx([0.0, 0.0])  # a tie stands out from nothing
    assert candidate_margins([0.8], floor=0.5) == pytest.approx([0.3])  # alone above the floor
    assert candidate_margins([]).shape == (0,)


def test_item_margins_are_taken_within_each_evaluation_set() -> None:
    listed = [("a", "x", 0.9), ("b", "y", 0.6), ("a", "z", 0.7)]
    assert item_margins(listed, floor=0.5) == pytest.approx([0.2, 0.1, -0.2])


@settings(max_examples=200, deadline=None)
@given(similarities, st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), unit, unit)
def test_rejected_score_is_below_the_threshold_and_grows_with_the_margin(g, m1, m2, correlation, overlap):
    low, high = sorted((m1, m2))
    a, b = _rejected(RULE, g, low, correlation, overlap), _rejected(RULE, g, high, correlation, overlap)
    assert 0.0 <= a <= b < RULE.rejected_ceiling <= RULE.threshold


@settings(max_examples=200, deadline=None)
@given(similarities, similarities, st.floats(-1.0, 1.0), unit, unit)
def test_rejected_score_grows_with_the_global_similarity(g1, g2, margin, correlation, overlap):
    low, high = sorted((g1, g2))
    assert _rejected(RULE, low, margin, correlation, overlap) <= _rejected(RULE, high, margin, correlation, overlap)


def test_a_copy_that_stands_out_ranks_above_a_lookalike_among_the_rejected() -> None:
    # the shipped ranking: a rejected pair far above its query's other candidates outranks a slightly
    # more similar one that has a near-equal competitor
    assert _rejected(DEFAULT_SCORE_RULE, 0.85, 0.2) > _rejected(DEFAULT_SCORE_RULE, 0.9, 0.0)


def test_unknown_dense_features_count_as_zero() -> None:
    nan = float("nan")
    assert _rejected(RULE, 0.8, 0.1, nan, nan) == pytest.approx(_rejected(RULE, 0.8, 0.1, 0.0, 0.0))


def test_negative_coefficients_are_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        RejectedRanking(margin=-1.0)
    with pytest.raises(ValueError, match="similarity"):
        RejectedRanking(similarity=-0.5)
