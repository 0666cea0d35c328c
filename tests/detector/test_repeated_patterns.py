"""Inliers on a repeated pattern (woven cloth, tiles, a symmetric facade) need many more of them to verify.

On such images every element has a near twin elsewhere in the same image, so a shift by one period
still matches and passes the ratio test when the twins are not exact (docs/verification.md: the
false verified pairs of the calibration set were tiles of one canvas texture). Built here at the level
of features, so the construction does not depend on what SIFT finds.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from detector.verify import LocalFeatures, VerifyConfig, twin_distances, verify_pair
from tests.detector.synthetic_features import quantised, twins_of, unit_descriptors, world

CONFIG = VerifyConfig()


def test_twin_distances_find_near_twins_and_ignore_the_same_spot():
    rng = np.random.default_rng(1)
    base = unit_descriptors(rng, 3)
    twin = twins_of(rng, base[:1], 0.2)
    same_spot = twins_of(rng, base[1:2], 0.05)
    points = np.array([[10, 10], [50, 50], [90, 20], [40, 10], [51, 50]], np.float32)  # 3 twins 0, at 30 px; 4 twins 1, at 1 px
    f = LocalFeatures(points, quantised(np.concatenate([base, twin, same_spot])), 100, 100)
    d = twin_distances(f, np.array([0, 1, 2]))
    assert abs(d[0] - 0.2) < 0.02  # the twin 30 px away counts
    assert d[1] > 0.5 and d[2] > 0.5  # a twin at the same spot (another orientation) does not


def test_a_shift_by_one_period_of_a_repeated_pattern_does_not_verify():
    query, reference = world(with_twins=True)
    result = verify_pair(query, None, reference, CONFIG)
    assert result.status == "rejected" and "repeated pattern" in result.reason, result.to_row()
    # the rule is what rejects it: without it the same pair verifies
    assert verify_pair(query, None, reference, replace(CONFIG, repeated_min_inliers=0)).verified


def test_the_same_geometry_without_twins_verifies():
    query, reference = world(with_twins=False)
    result = verify_pair(query, None, reference, CONFIG)
    assert result.verified and result.inliers >= 18, result.to_row()


def test_many_inliers_verify_even_on_a_repeated_pattern():
    query, reference = world(with_twins=True)
    result = verify_pair(query, None, reference, replace(CONFIG, repeated_min_inliers=15))
    assert result.verified, result.to_row()
