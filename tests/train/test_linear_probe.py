"""Linear and few-shot probes on synthetic features with a known answer."""
from __future__ import annotations

import numpy as np
import pytest

from clip_core.linear_probe import (Features, ProbeConfig, c_grid_search, default_probe_train, few_shot_probe,
                                    linear_probe, sample_k_per_class, stratified_split)


def blobs(n_per_class: int, num_classes: int = 4, dim: int = 8, spread: float = 0.3, seed: int = 0,
          centres_seed: int = 100) -> Features:
    """Gaussian blobs around fixed, far-apart centres (shared across seeds)."""
    centres = np.random.default_rng(centres_seed).normal(size=(num_classes, dim)) * 5
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(num_classes), n_per_class)
    x = centres[y] + spread * rng.normal(size=(len(y), dim))
    return Features(x, y, [f"c{i}" for i in range(num_classes)])


def test_search_finds_known_optimum():
    target = 2.375  # on the 1/8-decade grid
    best, score, seen = c_grid_search(lambda c: -abs(np.log10(c) - target))
    assert best == pytest.approx(10 ** target)
    assert score == pytest.approx(0.0, abs=1e-9)
    assert {float(e) for e in range(-6, 7)} <= set(seen)  # the coarse decade sweep
    assert len(seen) == 13 + 6  # then two neighbours at steps 1/2, 1/4, 1/8 decade


def test_search_prefers_smaller_c_on_ties_and_stays_in_range():
    best, _, seen = c_grid_search(lambda c: 1.0)
    assert best == pytest.approx(1e-6)
    assert min(seen) >= -6 and max(seen) <= 6
    best, _, _ = c_grid_search(lambda c: np.log10(c))  # increasing: the top of the range
    assert best == pytest.approx(1e6)


def test_separable_blobs_are_classified_perfectly():
    train, test = blobs(30, seed=0), blobs(20, seed=1)
    m = linear_probe(train, test, ProbeConfig())
    assert m["acc1"] == 1.0 and m["acc5"] == 1.0 and m["mean_per_class_recall"] == 1.0
    assert m["val_acc1"] == 1.0 and 1e-6 <= m["C"] <= 1e6
    assert m["num_train"] + m["num_val"] == 120 and m["num_test"] == 80


def test_random_labels_give_chance():
    rng = np.random.default_rng(0)
    train = Features(rng.normal(size=(200, 16)), rng.integers(0, 4, 200), ["a", "b", "c", "d"])
    test = Features(rng.normal(size=(400, 16)), rng.integers(0, 4, 400), ["a", "b", "c", "d"])
    m = linear_probe(train, test)
    assert m["acc1"] < 0.4  # chance is 0.25; a perfect score would mean a leak


def test_overlapping_blobs_prefer_regularisation():
    # noisy, high-dimensional, few examples: the probe must still beat chance clearly
    train, test = blobs(10, num_classes=3, dim=64, spread=6.0, seed=0), blobs(100, num_classes=3, dim=64,
                                                                                spread=6.0, seed=1)
    m = linear_probe(train, test)
    assert m["acc1"] > 0.6


def test_stratified_split_keeps_every_class():
    y = np.array([0] * 8 + [1] * 4 + [2] * 1)
    tr, va = stratified_split(y, 0.25, seed=0)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(13))
    assert np.bincount(y[va], minlength=3).tolist() == [2, 1, 0]
    assert set(y[tr]) == {0, 1, 2}
    assert np.array_equal(stratified_split(y, 0.25, 0)[1], va)


def test_k_per_class_sampling_is_exact_and_deterministic():
    y = np.repeat(np.arange(3), 10)
    a = sample_k_per_class(y, 4, seed=7)
    assert np.bincount(y[a]).tolist() == [4, 4, 4]
    assert np.array_equal(a, sample_k_per_class(y, 4, seed=7))
    assert not np.array_equal(a, sample_k_per_class(y, 4, seed=8))
    with pytest.raises(ValueError, match="k=11"):
        sample_k_per_class(y, 11, seed=0)


def test_few_shot_on_blobs():
    train, test = blobs(10, seed=0), blobs(10, seed=1)
    out = few_shot_probe(train, test, ProbeConfig(few_shot_seeds=(0, 1)))
    assert set(out) == {"1", "2", "4", "8", "skipped"}
    assert out["skipped"]["k"] == [16]
    for k in ("1", "2", "4", "8"):
        assert out[k]["acc1_mean"] == 1.0 and len(out[k]["acc1"]) == 2


def test_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError, match="dim"):
        linear_probe(blobs(5, dim=4), blobs(5, dim=5))
    with pytest.raises(ValueError, match="steps_per_decade"):
        ProbeConfig(steps_per_decade=3).validate()


def test_default_probe_train():
    assert default_probe_train("synthetic:colors") == "synthetic:colors?seed=1"
    assert default_probe_train("synthetic:shapes?n=50&seed=3") == "synthetic:shapes?n=50&seed=4"
    with pytest.raises(ValueError, match="--probe-train"):
        default_probe_train("/data/imagenet/val")
