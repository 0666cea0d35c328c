from __future__ import annotations

import pytest

from detector.metrics import accuracy_at_1, evaluate_predictions, micro_average_precision, recall_at_precision

GT = [("q1", "r1"), ("q2", "r2"), ("q3", "r3")]
PRED = [("q1", "r1", 0.9), ("q2", "rX", 0.8), ("q2", "r2", 0.7), ("q1", "r5", 0.6)]


def test_hand_computed_case():
    # ranking P N P N; precision at the positives 1 and 2/3; q3 never predicted caps recall
    assert micro_average_precision(PRED, GT) == pytest.approx((1 + 2 / 3) / 3)
    recall, score = recall_at_precision(PRED, GT)
    assert recall == pytest.approx(1 / 3) and score == pytest.approx(0.9)
    assert accuracy_at_1(PRED, GT) == pytest.approx(1 / 3)
    m = evaluate_predictions(PRED, GT)
    assert m.n_predictions == 4 and m.n_ground_truth == 3


def test_ties_are_broken_against_the_method():
    gt = [("q1", "r1")]
    pred = [("q1", "r1", 0.5), ("q2", "rX", 0.5)]
    assert micro_average_precision(pred, gt) == pytest.approx(0.5)
    assert micro_average_precision(list(reversed(pred)), gt) == pytest.approx(0.5)
    assert accuracy_at_1([("q1", "r1", 0.5), ("q1", "r2", 0.5)], gt) == 0.0
    # a threshold cannot split tied scores: the tie gives precision 0.5, below 0.9
    assert recall_at_precision(pred, gt) == (0.0, None)


def test_perfect_and_recall_at_p90_picks_highest_recall():
    gt = [(f"q{i}", f"r{i}") for i in range(10)]
    pred = [(f"q{i}", f"r{i}", 1.0 - i / 100) for i in range(10)]
    pred.append(("q0", "bad", 0.955))  # negative ranked 5th of 11
    m = evaluate_predictions(pred, gt)
    # 10 positives, 1 negative at rank 6; at the full list precision 10/11 = 0.909 >= 0.9
    assert m.recall_at_p90 == pytest.approx(1.0)
    assert m.threshold_at_p90 == pytest.approx(0.91)
    expected_ap = (1 + 1 + 1 + 1 + 1 + 6 / 7 + 7 / 8 + 8 / 9 + 9 / 10 + 10 / 11) / 10
    assert m.micro_ap == pytest.approx(expected_ap)
    assert m.accuracy_at_1 == pytest.approx(1.0)


def test_repeated_pair_is_an_error():
    with pytest.raises(ValueError, match="repeat"):
        micro_average_precision([("q1", "r1", 0.3), ("q1", "r1", 0.2)], GT)
    with pytest.raises(ValueError, match="repeat"):
        micro_average_precision(PRED, GT + [("q1", "r1")])


def test_no_ground_truth_and_nan():
    with pytest.raises(ValueError, match="undefined"):
        micro_average_precision(PRED, [])
    with pytest.raises(ValueError, match="non-finite"):
        micro_average_precision([("q1", "r1", float("nan"))], GT)
    assert micro_average_precision([], GT) == 0.0
