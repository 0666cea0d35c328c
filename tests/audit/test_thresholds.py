"""Threshold rules: explicit, fitted from labels (known answers), detector default."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from audit.cli import app
from audit.thresholds import decide_thresholds, fit_threshold

runner = CliRunner()


def test_fit_picks_lowest_threshold_whose_precision_stays_above_target() -> None:
    # Sorted by similarity: 6 duplicates, then a non-duplicate, 3 more duplicates, then 4 non-duplicates.
    sims = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.5, 0.4, 0.3, 0.2])
    dups = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    fitted = fit_threshold("d", sims, dups, target_precision=0.85)
    # Precision at 0.90 is 9/10, every higher cut keeps >= 6/7 > 0.85; at 0.5 it drops to 9/11.
    assert fitted.threshold == 0.90 and fitted.n_above == 10 and fitted.precision == pytest.approx(0.9)
    assert fitted.recall == 1.0 and fitted.n_labels == 14 and fitted.n_duplicates == 9
    assert fitted.precision_low == pytest.approx(scipy_stats.beta.ppf(0.025, 9, 2))
    strict = fit_threshold("d", sims, dups, target_precision=0.9)
    # At 0.93 precision falls to 6/7 < 0.9, so the cut cannot go below 0.94.
    assert strict.threshold == 0.94 and strict.recall == pytest.approx(6 / 9)


def test_fit_brute_force_agreement_on_random_labels() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        sims = np.round(rng.random(n), 2)
        dups = rng.random(n) < sims
        target = float(rng.choice([0.8, 0.9, 0.95]))
        fitted = fit_threshold("d", sims, dups, target)
        valid = [t for t in np.unique(sims) if all(dups[sims >= s].mean() >= target for s in np.unique(sims) if s >= t)]
        if not valid:
            assert fitted.threshold > sims[~dups].max() and fitted.note
            assert not (sims[~dups] >= fitted.threshold).any()
        else:
            assert fitted.threshold == pytest.approx(min(valid))


def test_rules_apply_in_order_and_fall_back_with_a_note() -> None:
    labels = pd.DataFrame({
        "dataset": ["a", "a", "b", "b"], "eval_id": ["1", "2", "1", "2"], "pretraining_id": ["x", "y", "x", "y"],
        "is_duplicate": [True, False, False, True], "similarity": [0.9, 0.3, 0.9, 0.3],
    })
    decisions = decide_thresholds(["a", "b", "c", "d"], {"d": 0.7}, labels, default=0.6)
    assert (decisions["a"].rule, decisions["a"].threshold) == ("labels", 0.9)
    # b's top labelled pair is a non-duplicate: its threshold goes above every labelled non-duplicate.
    assert decisions["b"].rule == "labels" and decisions["b"].threshold > 0.9 and "above every" in decisions["b"].note
    assert (decisions["c"].rule, decisions["c"].threshold) == ("detector_default", 0.6)
    assert (decisions["d"].rule, decisions["d"].threshold) == ("explicit", 0.7)
    with pytest.raises(ValueError, match="no threshold for dataset 'c'"):
        decide_thresholds(["a", "c"], {}, labels[labels.dataset == "a"], default=None)
    with pytest.raises(ValueError, match="unknown dataset"):
        decide_thresholds(["a"], {"zzz": 0.5}, None, default=0.5)


def test_cli_labels_fit_and_unknown_labels_are_errors(planted_world, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["overlap", "--pretraining", str(planted_world.pretraining_dir), "--out", str(out)]
    for name, folder in planted_world.eval_dirs.items():
        args += ["--eval", f"{name}={folder}"]
    assert runner.invoke(app, args + ["--threshold", "cifar=0.8", "--threshold", "birds=0.8"]).exit_code == 0
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    labelled = neighbours[neighbours["dataset"] == "cifar"].head(60).copy()
    truth = {(e, p) for d, e, p in planted_world.planted if d == "cifar"}
    labelled["is_duplicate"] = [int((e, p) in truth) for e, p in zip(labelled.eval_id, labelled.pretraining_id)]
    labels_path = tmp_path / "labels.csv"
    labelled[["dataset", "eval_id", "pretraining_id", "is_duplicate"]].to_csv(labels_path, index=False)
    result = runner.invoke(app, args + ["--labels", str(labels_path), "--threshold", "birds=0.8"])
    assert result.exit_code == 0, result.output
    decisions = json.loads((out / "thresholds.json").read_text())
    assert decisions["cifar"]["rule"] == "labels" and decisions["birds"]["rule"] == "explicit"
    assert decisions["cifar"]["precision"] >= 0.95 and decisions["cifar"]["n_labels"] == 60
    bad = labelled.head(2).copy()
    bad["pretraining_id"] = "nowhere"
    bad[["dataset", "eval_id", "pretraining_id", "is_duplicate"]].to_csv(labels_path, index=False)
    result = runner.invoke(app, args + ["--labels", str(labels_path), "--threshold", "birds=0.8"])
    assert result.exit_code == 2 and "not in the neighbour table" in result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "no threshold for dataset" in result.output
    assert math.isfinite(decisions["cifar"]["threshold"])
