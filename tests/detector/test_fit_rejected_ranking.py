"""bench/fit_rejected_ranking.py: the fit recovers a planted ranking and only rejected pairs are rescored."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bench.fit_rejected_ranking import VOTED_FEATURES, ceilings, fit, rescored


def _pairs(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    copy = rng.random(n) < 0.2
    margin = np.where(copy, rng.uniform(0.0, 0.3, n), rng.uniform(-0.3, 0.05, n))  # planted: copies stand out
    return pd.DataFrame({"query_id": [f"q{i}" for i in range(n)], "reference_id": "r", "similarity": np.where(copy, rng.uniform(0.7, 0.95, n), rng.uniform(0.5, 0.85, n)),
                         "score": 0.1, "status": np.where(np.arange(n) % 10 == 0, "verified", "rejected"), "margin": margin,
                         "dense_correlation": 0.0, "dense_overlap": 0.0, "copy": copy})


def test_fit_finds_the_planted_margin_and_rescoring_orders_copies_first() -> None:
    frame = _pairs()
    ranking = fit(frame)
    assert ranking.margin > 5.0
    out = rescored(frame, ranking, 0.4)
    rejected = out[out.status == "rejected"]
    assert rejected[rejected["copy"]].score.mean() > rejected[~rejected["copy"]].score.mean()
    assert (rejected.score < 0.4).all() and (out[out.status == "verified"].score == 0.1).all()


def test_fit_with_votes_finds_planted_votes_and_ranks_by_them() -> None:
    frame = _pairs(seed=1)
    rng = np.random.default_rng(1)
    frame["votes"] = np.where(frame["copy"], rng.integers(10, 200, len(frame)), rng.integers(0, 6, len(frame)))
    frame["margin"] = 0.0  # only the votes tell copies apart
    voted = fit(frame, VOTED_FEATURES)
    assert voted.votes > 1.0
    out = rescored(frame, voted, 0.4)
    rejected = out[out.status == "rejected"]
    assert rejected[rejected["copy"]].score.min() > rejected[~rejected["copy"]].score.max()


def test_ceilings_lift_rejected_copies_and_drop_false_verified_pairs() -> None:
    from detector.evaluate import GroundTruth

    frame = pd.DataFrame({"query_id": ["q1", "q1", "q2", "q2"], "reference_id": ["a", "b", "c", "d"],
                          "score": [0.9, 0.1, 0.8, 0.2], "status": ["verified", "rejected", "verified", "rejected"],
                          "copy": [False, True, True, False]})
    gt = GroundTruth(pairs=[("q1", "b"), ("q2", "c")], family={"q1": "x", "q2": "x"})
    out = ceilings(frame, gt, 2, 4, 10)
    assert out["both"]["micro_ap"] == pytest.approx(1.0)
    # c, then the rejected non-copy d (0.2) above the rejected copy b (0.1): AP = (1 + 2/3) / 2
    assert out["no false verified pair"]["micro_ap"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-3)
    # the false verified pair a still ranks first: AP = (1/2 + 2/3) / 2
    assert out["rejected copies first"]["micro_ap"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-3)


def test_fit_refuses_rejected_pairs_of_one_kind() -> None:
    frame = _pairs()
    frame["copy"] = False
    with pytest.raises(ValueError, match="nothing to fit"):
        fit(frame)


def test_help() -> None:
    result = subprocess.run([sys.executable, "bench/fit_rejected_ranking.py", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--calibration" in result.stdout
