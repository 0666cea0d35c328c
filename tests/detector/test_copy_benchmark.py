from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from detector.copy_benchmark import CopyBenchmarkConfig, build_copy_benchmark, harden, photo_tiles
from detector.evaluate import GroundTruth, evaluate_method, evaluate_scores
from tests.detector.conftest import make_image


def test_photo_tiles_do_not_overlap():
    photo = make_image(0, (130, 70))
    tiles = photo_tiles([photo], 32)
    assert len(tiles) == 4 * 2 and all(t.size == (32, 32) for t in tiles)
    assert np.array_equal(np.asarray(tiles[1]), np.asarray(photo)[0:32, 32:64])
    with pytest.raises(ValueError, match="tile"):
        photo_tiles([photo], 8)


def test_harden_makes_images_darker_or_flatter():
    img = make_image(3, (64, 64))
    for seed in range(6):
        out = np.asarray(harden(img, np.random.default_rng(seed)), dtype=float)
        base = np.asarray(img, dtype=float)
        assert out.mean() < base.mean() - 10 or out.std() < 0.7 * base.std()


def test_build_benchmark_layout_and_ground_truth(tmp_path):
    images = [make_image(i, (48, 48)) for i in range(2 * 4)]
    cfg = CopyBenchmarkConfig(n_references=2, distractors_per_reference=3, families=("flip", "jpeg", "combo3"))
    summary = build_copy_benchmark(images, tmp_path / "b", cfg)
    assert summary["queries"] == 6 and summary["distractors"] == 6
    refs = sorted(p.name for p in (tmp_path / "b" / "references").iterdir())
    assert len(refs) == 8
    with open(tmp_path / "b" / "ground_truth.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {r["family"] for r in rows} == {"flip", "jpeg", "combo3"}
    assert len({r["reference_id"] for r in rows}) == 2 and all(r["reference_id"] in refs for r in rows)
    flip_row = next(r for r in rows if r["family"] == "flip")
    q = np.asarray(Image.open(tmp_path / "b" / "queries" / flip_row["query_id"]))
    ref = np.asarray(Image.open(tmp_path / "b" / "references" / flip_row["reference_id"]))
    assert np.array_equal(q, ref[:, ::-1]) or np.array_equal(q, ref[::-1])
    report = evaluate_method("ahash", str(tmp_path / "b" / "references"), str(tmp_path / "b" / "queries"),
                             tmp_path / "b" / "ground_truth.csv", calibrate_precision=0.95)
    assert set(report.families) == {"flip", "jpeg", "combo3"} and report.calibration["precision"] == 0.95
    with pytest.raises(ValueError, match="distinct images"):
        build_copy_benchmark(images[:5], tmp_path / "c", cfg)
    with pytest.raises(ValueError, match="unknown"):
        CopyBenchmarkConfig(families=("swirl",))


def test_calibration_threshold_by_hand():
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.6]])
    gt = GroundTruth([("a", "x"), ("b", "y"), ("c", "y")], {})
    # ranking: a-x 0.9 P, b-x 0.8 N, b-y 0.7 P, c-y 0.6 P, ... precision 1, .5, .67, .75
    report = evaluate_scores("m", ["a", "b", "c"], ["x", "y"], scores, gt, top_k=2, calibrate_precision=0.95)
    assert report.calibration == {"precision": 0.95, "threshold": 0.9, "recall": pytest.approx(1 / 3)}
    report = evaluate_scores("m", ["a", "b", "c"], ["x", "y"], scores, gt, top_k=2, calibrate_precision=0.7)
    assert report.calibration["threshold"] == 0.6 and report.calibration["recall"] == pytest.approx(1.0)
