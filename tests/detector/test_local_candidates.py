"""Local-descriptor votes as a second source of candidates (detector/local_candidates.py)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from detector.augment import crop_zoom, flip, jpeg, rotate_small
from detector.local_candidates import LocalCandidateConfig, LocalCandidateSource, LocalVoteIndex
from detector.match import PairVerifier, TwoStageConfig
from detector.verify import LocalFeatures, extract_features, extract_with_mirror
from tests.detector.photo_tiles import photo_tiles


@pytest.fixture(scope="module")
def world() -> dict:
    tiles = photo_tiles()[:24]
    references = [(f"ref{i:02d}", extract_features(tile)) for i, tile in enumerate(tiles)]
    rng = np.random.default_rng(3)
    copy = jpeg(flip(crop_zoom(rotate_small(tiles[7], rng, max_degrees=12), rng, min_area=0.6, max_area=0.7), rng),
                rng, min_quality=60, max_quality=70)
    return {"tiles": tiles, "references": references, "copy": copy, "features": dict(references)}


def test_a_transformed_copy_votes_most_for_its_reference(world) -> None:
    index = LocalVoteIndex(world["references"], LocalCandidateConfig())
    votes = index.votes(extract_with_mirror(world["copy"]))
    ranked = sorted(votes, key=votes.get, reverse=True)
    assert ranked[0] == "ref07", votes
    assert votes["ref07"] >= 2 * max([n for r, n in votes.items() if r != "ref07"] + [1])


def test_an_unrelated_image_gets_few_votes(world) -> None:
    index = LocalVoteIndex(world["references"][:-1], LocalCandidateConfig())
    votes = index.votes(extract_with_mirror(world["tiles"][-1]))  # not among the indexed references
    assert max(votes.values(), default=0) < LocalCandidateConfig().min_votes * 3


def test_the_ivf_index_agrees_with_exact_search_on_the_winner(world) -> None:
    exact = LocalVoteIndex(world["references"], LocalCandidateConfig())
    ivf = LocalVoteIndex(world["references"], LocalCandidateConfig(exact_below=100, probes=8))
    assert type(ivf.index).__name__ == "IndexIVFScalarQuantizer"
    query = extract_with_mirror(world["copy"])
    assert max(ivf.votes(query), key=ivf.votes(query).get) == max(exact.votes(query), key=exact.votes(query).get)


def test_unreadable_or_empty_references_are_skipped() -> None:
    empty = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), 10, 10)
    index = LocalVoteIndex([("gone", None), ("blank", empty)])
    assert len(index) == 0
    assert index.votes([empty, None]) == {}


def test_source_adds_the_voted_reference_missing_from_the_global_list(world) -> None:
    ids = [r for r, _ in world["references"]]
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(len(ids), 16)).astype(np.float32)
    queries = rng.normal(size=(1, 16)).astype(np.float32)
    source = LocalCandidateSource(LocalVoteIndex(world["references"], LocalCandidateConfig(per_query=2)),
                                  ["q"], queries, ids, refs)
    listed = [("ref00", 0.9), ("ref01", 0.8)]
    extra, votes = source.expand("q", extract_with_mirror(world["copy"]), listed)
    assert extra[0][0] == "ref07" and len(extra) <= 2
    assert extra[0][1] == pytest.approx(float(queries[0] @ refs[7]), abs=1e-6)
    assert all(r not in {"ref00", "ref01"} for r, _ in extra)
    assert votes["ref07"] >= LocalCandidateConfig().min_votes
    assert source.expand("unknown", extract_with_mirror(world["copy"]), listed)[0] == []


def test_the_verifier_verifies_the_added_candidate_and_records_votes(world) -> None:
    ids = [r for r, _ in world["references"]]
    refs = np.eye(len(ids), 32, dtype=np.float32)
    queries = refs[[0]]  # globally the query looks like ref00 only
    source = LocalCandidateSource(LocalVoteIndex(world["references"]), ["q"], queries, ids, refs)
    verifier = PairVerifier(world["features"].get, TwoStageConfig())
    from functools import partial

    pairs = verifier.score_query(world["copy"], [("ref00", 1.0)], partial(source.expand, "q"))
    by_id = {p.reference_id: p for p in pairs}
    assert by_id["ref07"].status == "verified" and by_id["ref07"].votes >= 4
    assert by_id["ref07"].global_similarity == pytest.approx(0.0)
    assert by_id["ref00"].status == "rejected" and 0 <= by_id["ref00"].votes < 10  # counted: ranked with votes
    plain = verifier.score_query(world["copy"], [("ref00", 1.0)])
    assert [p.reference_id for p in plain] == ["ref00"] and plain[0].votes == -1  # not counted


def test_rejected_pairs_rank_by_votes_only_where_they_were_counted() -> None:
    from detector.verify import DEFAULT_SCORE_RULE

    rule = DEFAULT_SCORE_RULE
    g, status = np.full(4, 0.8), np.array(["rejected"] * 4)
    zeros = np.zeros(4)
    scores = rule.scores(g, status, zeros, zeros, zeros, None, None, np.array([-1, 0, 5, 50]))
    assert scores[0] == pytest.approx(rule.scores(g[:1], status[:1], zeros[:1], zeros[:1], zeros[:1])[0])
    assert scores[1] < scores[2] < scores[3] < rule.rejected_ceiling  # more votes, higher odds; never a copy decision
    verified = rule.scores(g[:2], np.array(["verified"] * 2), np.array([12, 12]), np.array([0.4, 0.4]), zeros[:2],
                           None, None, np.array([-1, 0]))
    assert verified[0] == verified[1] > rule.threshold  # votes order rejected pairs only


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="ratio"):
        LocalCandidateConfig(ratio=0.0)
    with pytest.raises(ValueError, match="min_votes"):
        LocalCandidateConfig(min_votes=0)
    with pytest.raises(ValueError, match="neighbours"):
        LocalCandidateConfig(neighbours=1)
    with pytest.raises(ValueError, match="probes"):
        LocalCandidateConfig(probes=0)
