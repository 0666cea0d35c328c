"""Two-stage matching: `clip-audit detector match`, `detector eval --verify`, and the pair scorer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data.writers import write_image_folder
from detector.augment import crop_zoom, flip, jpeg, rotate_small
from detector.checkpoint import DEFAULT_WEIGHTS
from detector.match import MATCH_COLUMNS, PairVerifier, TwoStageConfig, top_k_candidates
from detector.verify import extract_features
from tests.detector.photo_tiles import photo_tiles

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the default detector is not shipped")
runner = CliRunner()


def copy_of(image: Image.Image, seed: int) -> Image.Image:
    """A re-posted copy: crop, small rotation or mirror, JPEG."""
    rng = np.random.default_rng(seed)
    out = crop_zoom(image, rng, min_area=0.6, max_area=0.8)
    out = flip(out, rng) if seed % 2 else rotate_small(out, rng, max_degrees=10)
    return jpeg(out, rng, min_quality=50, max_quality=80)


@pytest.fixture(scope="module")
def matching_world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("match")
    tiles = photo_tiles()
    references = [(f"ref{i:02d}", tile, None) for i, tile in enumerate(tiles[:16])]
    copied = [0, 3, 5, 8, 11]
    queries = [(f"copy{i:02d}", copy_of(tiles[i], 100 + i), None) for i in copied]
    queries += [(f"other{i:02d}", tile, None) for i, tile in enumerate(tiles[16:22])]  # never among the references
    refs = write_image_folder(references, root / "references")
    qs = write_image_folder(queries, root / "queries")
    truth = {qs.ids[f"copy{i:02d}"]: refs.ids[f"ref{i:02d}"] for i in copied}
    out = root / "out"
    result = runner.invoke(app, ["detector", "match", "--references", str(root / "references"), "--queries",
                                 str(root / "queries"), "--out", str(out), "--top-k", "5"])
    assert result.exit_code == 0, result.output
    return {"root": root, "out": out, "truth": truth, "output": result.output, "queries": qs, "refs": refs}


def test_matches_csv_has_the_isc_columns_and_top_k_rows(matching_world) -> None:
    matches = pd.read_csv(matching_world["out"] / "matches.csv", dtype={"query_id": str, "reference_id": str})
    assert list(matches.columns) == MATCH_COLUMNS
    assert matches.groupby("query_id").size().ge(5).all()  # the global top 5 ...
    assert matches.groupby("query_id").size().le(10).all()  # ... and at most 5 more by local-descriptor votes
    extra = matches.groupby("query_id", group_keys=False).apply(lambda g: g.nsmallest(len(g) - 5, "global_similarity"))
    assert (extra["votes"] >= 10).all(), extra
    assert matches["score"].between(0, 1).all()
    assert set(matches["status"]) <= {"verified", "rejected", "fallback", "unverified"}
    assert "wrote" in matching_world["output"]


def test_copies_verify_and_unrelated_queries_do_not(matching_world) -> None:
    matches = pd.read_csv(matching_world["out"] / "matches.csv", dtype={"query_id": str, "reference_id": str})
    verified = matches[matches["verified"] == 1]
    found = set(zip(verified["query_id"], verified["reference_id"]))
    truth = set(matching_world["truth"].items())
    assert found <= truth, found - truth  # nothing unrelated verifies
    assert len(found) >= len(truth) - 1, truth - found
    best = matches.groupby("query_id").head(1).set_index("query_id")["reference_id"]
    assert sum(best[q] == r for q, r in truth) >= len(truth) - 1


def test_no_verify_scores_by_global_similarity(matching_world) -> None:
    out = matching_world["root"] / "global"
    result = runner.invoke(app, ["detector", "match", "--references", str(matching_world["root"] / "references"),
                                 "--queries", str(matching_world["root"] / "queries"), "--out", str(out), "--no-verify"])
    assert result.exit_code == 0, result.output
    matches = pd.read_csv(out / "matches.csv")
    assert (matches["status"] == "unverified").all() and (matches["verified"] == 0).all()


def test_detector_eval_reports_global_and_two_stage(matching_world, tmp_path: Path) -> None:
    truth = pd.DataFrame({"query_id": list(matching_world["truth"]), "reference_id": list(matching_world["truth"].values()),
                          "family": ["copy"] * len(matching_world["truth"])})
    truth.to_csv(tmp_path / "gt.csv", index=False)
    result = runner.invoke(app, ["detector", "eval", "--references", str(matching_world["root"] / "references"),
                                 "--queries", str(matching_world["root"] / "queries"), "--ground-truth",
                                 str(tmp_path / "gt.csv"), "--verify", "--out", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    assert "method default:" in result.output and "method default+verify:" in result.output
    import json

    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == {"global", "two_stage"}
    assert report["two_stage"]["overall"]["micro_ap"] >= report["global"]["overall"]["micro_ap"] - 0.05


def test_top_k_candidates_matches_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    q, r = rng.normal(size=(7, 8)).astype(np.float32), rng.normal(size=(30, 8)).astype(np.float32)
    indices, values = top_k_candidates(q, r, 4, block=3)
    full = q @ r.T
    assert np.array_equal(indices, np.argsort(-full, axis=1)[:, :4])
    assert np.allclose(values, np.sort(full, axis=1)[:, ::-1][:, :4])


def test_pairs_below_the_floor_or_without_features_are_scored_globally() -> None:
    tile = photo_tiles()[0]
    features = extract_features(tile)
    verifier = PairVerifier({"a": features}.get, TwoStageConfig(candidate_floor=0.5))
    below, missing, checked = verifier.score_query(tile, [("a", 0.4), ("b", 0.9), ("a", 0.9)])
    assert below.status == missing.status == "unverified" and below.inliers == 0
    assert checked.status == "verified" and checked.score > missing.score
    assert verifier.verified_pairs == 1



def test_each_candidate_carries_its_margin_over_the_querys_others() -> None:
    tiles = photo_tiles()
    verifier = PairVerifier({"a": extract_features(tiles[1]), "b": extract_features(tiles[2])}.get, TwoStageConfig())
    first, second = verifier.score_query(tiles[0], [("a", 0.9), ("b", 0.6)])
    assert first.margin == pytest.approx(0.3) and second.margin == pytest.approx(-0.3)
    assert first.status == second.status == "rejected"  # different tiles: the margin only orders them
    assert second.score < first.score < verifier.config.rule.rejected_ceiling
