"""contamination_table: columns, identities, empty splits and validation."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from audit.contamination import TABLE_COLUMNS, contamination_table

EXPECTED_COLUMNS = [
    "dataset", "n_all", "n_clean", "n_overlap", "overlap_fraction", "acc_all", "acc_clean",
    "acc_overlap", "all_minus_clean", "overlap_minus_clean", "p_value", "p_bonferroni", "p_holm",
    "ci_low", "ci_high", "p_two_sample",
]


def _rows(dataset: str, cells: tuple[int, int, int, int]) -> list[dict]:
    """Rows from (overlap correct, overlap wrong, clean correct, clean wrong) counts."""
    layout = [(True, True), (True, False), (False, True), (False, False)]
    rows = []
    for (in_overlap, correct), count in zip(layout, cells):
        rows += [{"dataset": dataset, "in_overlap": in_overlap, "correct": correct} for _ in range(count)]
    for index, row in enumerate(rows):
        row["id"] = f"{dataset}-{index}"
    return rows


def test_columns_are_exactly_the_documented_ones() -> None:
    table = contamination_table(_rows("a", (3, 1, 10, 10)))
    assert list(table.columns) == EXPECTED_COLUMNS == list(TABLE_COLUMNS)


def test_values_on_a_hand_computed_dataset() -> None:
    row = contamination_table(_rows("cifar", (18, 2, 120, 60))).iloc[0]
    assert (row.n_all, row.n_overlap, row.n_clean) == (200, 20, 180)
    assert row.overlap_fraction == pytest.approx(0.1)
    assert row.acc_all == pytest.approx(138 / 200)
    assert row.acc_clean == pytest.approx(120 / 180)
    assert row.acc_overlap == pytest.approx(0.9)
    assert row.p_value == pytest.approx(scipy_stats.binomtest(18, 20, 120 / 180, alternative="greater").pvalue)
    low, high = scipy_stats.beta.ppf(0.0025, 18, 3), scipy_stats.beta.ppf(0.9975, 19, 2)
    assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
    expected_fisher = scipy_stats.fisher_exact([[18, 2], [120, 60]], alternative="greater").pvalue
    assert row.p_two_sample == pytest.approx(expected_fisher)


def test_no_overlap_gives_nan_test_fields_not_an_error() -> None:
    table = contamination_table(_rows("mnist", (0, 0, 50, 50)) + _rows("birds", (8, 2, 40, 50)))
    mnist = table.set_index("dataset").loc["mnist"]
    assert mnist.n_overlap == 0 and mnist.all_minus_clean == 0.0
    for field in ("acc_overlap", "p_value", "p_bonferroni", "p_holm", "ci_low", "ci_high", "p_two_sample"):
        assert math.isnan(mnist[field]), field
    birds = table.set_index("dataset").loc["birds"]
    # Only one dataset has a test, so the family has size one.
    assert birds.p_bonferroni == pytest.approx(birds.p_value)


def test_bonferroni_and_holm_across_datasets() -> None:
    table = contamination_table(
        _rows("a", (9, 1, 50, 50)) + _rows("b", (6, 4, 50, 50)) + _rows("c", (10, 0, 40, 60))
    ).set_index("dataset")
    p = table["p_value"].to_numpy()
    np.testing.assert_allclose(table["p_bonferroni"], np.minimum(1, 3 * p))
    order = np.argsort(p)
    holm = np.maximum.accumulate(np.minimum(1, (3 - np.arange(3)) * p[order]))
    np.testing.assert_allclose(table["p_holm"].to_numpy()[order], holm)


def test_accepts_dataframes_and_string_flags() -> None:
    frame = pd.DataFrame(
        {"dataset": ["x"] * 4, "id": [1, 2, 3, 4], "in_overlap": ["1", "0", "true", "no"], "correct": [1, 1, 0, 0]}
    )
    row = contamination_table(frame).iloc[0]
    assert (row.n_overlap, row.acc_overlap, row.acc_clean) == (2, 0.5, 0.5)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no examples"),
        ([{"dataset": "a", "id": "1", "correct": 1}], "in_overlap"),
        ([{"dataset": "a", "id": "1", "in_overlap": 2, "correct": 1}], "in_overlap"),
        ([{"dataset": "a", "id": "1", "in_overlap": 1, "correct": "maybe"}], "correct"),
        ([{"dataset": "a", "id": "1", "in_overlap": 1, "correct": 1}] * 2, "repeated"),
    ],
)
def test_bad_rows_raise_clear_errors(rows: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        contamination_table(rows)


def test_confidence_outside_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="confidence"):
        contamination_table(_rows("a", (1, 1, 1, 1)), confidence=1.5)


cells = st.tuples(*(st.integers(0, 40) for _ in range(4))).filter(lambda c: sum(c) > 0)


@settings(max_examples=150, deadline=None)
@given(cells)
def test_all_minus_clean_equals_fraction_times_overlap_minus_clean(counts: tuple[int, int, int, int]) -> None:
    row = contamination_table(_rows("d", counts)).iloc[0]
    assert row.n_all == row.n_clean + row.n_overlap == sum(counts)
    if row.n_clean and row.n_overlap:
        assert row.all_minus_clean == pytest.approx(row.overlap_fraction * row.overlap_minus_clean, abs=1e-12)
        assert 0.0 <= row.p_value <= 1.0 and 0.0 <= row.p_two_sample <= 1.0
        assert row.ci_low <= row.acc_overlap <= row.ci_high
        assert row.p_bonferroni >= row.p_value - 1e-15
    if row.n_clean == 0:
        assert math.isnan(row.acc_clean) and math.isnan(row.p_value)
    if row.n_overlap == 0:
        assert math.isnan(row.p_value) and row.all_minus_clean == pytest.approx(0.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(cells, min_size=1, max_size=6))
def test_adjusted_p_values_dominate_raw_and_holm_never_exceeds_bonferroni(datasets) -> None:
    rows = [row for index, counts in enumerate(datasets) for row in _rows(f"d{index}", counts)]
    table = contamination_table(rows)
    tested = table["p_value"].notna()
    assert (table.loc[tested, "p_holm"] >= table.loc[tested, "p_value"] - 1e-15).all()
    assert (table.loc[tested, "p_holm"] <= table.loc[tested, "p_bonferroni"] + 1e-15).all()
    assert table.loc[~tested, "p_holm"].isna().all()
