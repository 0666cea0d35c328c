"""Reading result files: the inferred interval level against statsmodels, flattening, corrupt thumbnails."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from reports.result_files import clopper_pearson_level, flatten


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.995])
def test_interval_level_recovers_the_statsmodels_level(confidence: float) -> None:
    k = np.array([0, 3, 17, 40, 50])
    n = np.array([10, 20, 50, 40, 200])
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="beta")
    assert clopper_pearson_level(k, n, np.nan_to_num(low), np.nan_to_num(high, nan=1.0)) == pytest.approx(confidence, abs=1e-4)


def test_interval_level_is_none_for_intervals_of_another_kind() -> None:
    k, n = np.array([3, 17, 30]), np.array([20, 50, 60])
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert clopper_pearson_level(k, n, low, high) is None


def test_flatten_keeps_file_order_and_nesting() -> None:
    assert flatten({"model": {"path": "m.pt", "sha256": "ab"}, "seed": 0, "prompts": ["a {}", "b {}"], "runs": [{"x": 1}]}) == [
        ("model.path", "m.pt"), ("model.sha256", "ab"), ("seed", 0), ("prompts", "a {}, b {}"), ("runs[0].x", 1)]


def test_corrupt_or_missing_thumbnails_are_skipped_and_counted(tmp_path) -> None:
    from PIL import Image

    from reports.thumbnails import pair_images, pairs_near_threshold

    (tmp_path / "eval").mkdir()
    (tmp_path / "pre").mkdir()
    Image.new("RGB", (16, 16), "red").save(tmp_path / "eval" / "a.png")
    Image.new("RGB", (16, 16), "blue").save(tmp_path / "eval" / "b.png")
    Image.new("RGB", (16, 16), "green").save(tmp_path / "pre" / "x.png")
    (tmp_path / "pre" / "y.png").write_bytes(b"not an image")
    pairs = pd.DataFrame({"dataset": "d", "eval_id": ["a.png", "b.png"], "pretraining_id": ["x.png", "y.png"], "similarity": [0.9, 0.7], "score": [0.9, 0.7]})
    chosen = pairs_near_threshold(pairs, "d", 0.8, 1)
    assert list(chosen["side"]) == ["Overlap", "Clean"]
    images = pair_images(chosen, str(tmp_path / "eval"), str(tmp_path / "pre"), 8)
    assert set(images.eval_images) == {"a.png", "b.png"} and set(images.pretraining_images) == {"x.png"}
    assert images.missing == 1
    assert pair_images(chosen, None, str(tmp_path / "gone"), 8).missing == 4


def test_significance_classes_match_the_contamination_figure() -> None:
    from audit.contamination_figure import significance_class as audit_class

    from reports.figures import significance_class

    for p_value in (1e-9, 9.99e-4, 1e-3, 0.01, 0.0499, 0.05, 0.3, 1.0):
        assert significance_class(p_value) == audit_class(p_value), p_value
