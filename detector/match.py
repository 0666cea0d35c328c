"""Two-stage matching: the global descriptor proposes candidates, local-feature verification decides.

The global similarity ranks each query's candidate references (its top-k); every candidate whose
global similarity reaches the candidate floor is verified geometrically (`detector.verify`), and one
scoring rule (`detector.verify.ScoreRule`) turns the global similarity and the verification into the
final `score` in [0, 1] that thresholds apply to. Candidates below the floor, and pairs where either
image is unreadable or has no stored features, are scored from the global similarity alone
(status ``unverified``); images with too few keypoints are ``fallback`` (also global only, flagged).

Statuses: ``verified`` (a consistent transform on enough well-spread inliers); ``dense`` (too few
keypoints, or rejected by geometry at a high global similarity, but the dense check of
detector/dense_check.py aligns the two thumbnails like a copy: counted as verified, its strength
standing in for the verification score); ``rejected`` (no consistent geometry and no dense
agreement, or a dense agreement at a global similarity below the dense floor
``DenseConfig.min_similarity``); ``fallback`` (too few keypoints and no thumbnails to check: the
global similarity decides); ``unverified`` (not checked).

Used by `clip-audit detector match` (``matches.csv``, the ISC 2021 matching-track format),
`clip-audit detector eval` (µAP of the global and the two-stage score in one run) and, per streamed
shard, by `clip-audit overlap` (audit/overlap_verify.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from detector.dense_check import DenseConfig, dense_check, thumbnail
from detector.local_candidates import LocalCandidateConfig
from detector.verify import (
    DEFAULT_SCORE_RULE,
    LocalFeatures,
    ScoreRule,
    VerifyConfig,
    candidate_margins,
    extract_with_mirror,
    verify_pair,
)

VERIFIED_STATUSES = ("verified", "dense")
MATCH_COLUMNS = ["query_id", "reference_id", "score", "global_similarity", "inliers", "mirrored", "verified", "status", "votes"]
UNVERIFIED = "unverified"

if TYPE_CHECKING:
    from detector.local_candidates import LocalCandidateSource

FeatureLookup = Callable[[str], "LocalFeatures | None"]
# (query features, listed candidates) -> (extra candidates, votes per reference)
Expander = Callable[[Sequence["LocalFeatures | None"], Sequence[tuple[str, float]]],
                    tuple[list[tuple[str, float]], dict[str, int]]]
ThumbnailLookup = Callable[[str], "np.ndarray | None"]


@dataclass(frozen=True)
class TwoStageConfig:
    """How candidates are chosen and verified, and the rule that scores them."""

    verify: bool = True
    top_k: int = 20
    candidate_floor: float = -1.0  # candidates below this global similarity are not verified
    features: VerifyConfig = field(default_factory=VerifyConfig)
    rule: ScoreRule = DEFAULT_SCORE_RULE
    dense: DenseConfig = field(default_factory=DenseConfig)
    # references with the most local-descriptor votes, verified beside the global top-k (off by default here;
    # `detector match` and `detector eval` turn it on, detector/local_candidates.py)
    local: LocalCandidateConfig = field(default_factory=lambda: LocalCandidateConfig(per_query=0))

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if not -1.0 <= self.candidate_floor <= 1.0:
            raise ValueError(f"candidate_floor must lie in [-1, 1], got {self.candidate_floor}")


@dataclass(frozen=True)
class PairScore:
    """One scored (query, reference) pair."""

    reference_id: str
    global_similarity: float
    score: float
    inliers: int
    mirrored: bool
    status: str
    margin: float = 0.0  # g minus the query's next-best candidate's (orders rejected pairs; verify.candidate_margins)
    dense_correlation: float = float("nan")  # of the dense check's best alignment (nan: not run)
    dense_overlap: float = float("nan")
    raw_inliers: int = 0  # robust-estimation inliers before the degeneracy checks (0: not verified)
    votes: int = -1  # local-descriptor votes for the reference (detector/local_candidates.py; -1: not counted)

    @property
    def verified(self) -> bool:
        """True when the geometric (or, for keypoint-poor images, the dense) check confirmed the pair."""
        return self.status in VERIFIED_STATUSES


def global_only(rule: ScoreRule, reference_id: str, similarity: float, status: str = UNVERIFIED) -> PairScore:
    """A pair scored from its global similarity alone."""
    return PairScore(reference_id, float(similarity), float(rule.score(float(similarity), None)), 0, False, status)


@dataclass
class QueryFeatures:
    """A query's local features and those of its mirror image, extracted once, on first use."""

    image: Image.Image | None
    config: VerifyConfig
    _pair: tuple[LocalFeatures, LocalFeatures] | None = None
    _thumbnail: np.ndarray | None = None

    def get(self) -> tuple[LocalFeatures, LocalFeatures] | None:
        """(features, mirror features), or None when the image is missing."""
        if self.image is None:
            return None
        if self._pair is None:
            self._pair = extract_with_mirror(self.image, self.config)  # one SIFT pass; the mirror is derived
        return self._pair

    def thumbnail(self) -> np.ndarray | None:
        """The dense check's thumbnail of the query, or None when the image is missing."""
        if self.image is None:
            return None
        if self._thumbnail is None:
            self._thumbnail = thumbnail(self.image)
        return self._thumbnail


class PairVerifier:
    """Scores a query image against its candidate references, whose features come from a lookup."""

    def __init__(self, lookup: FeatureLookup, config: TwoStageConfig, thumbnails: ThumbnailLookup | None = None) -> None:
        self.lookup, self.config, self.thumbnails = lookup, config, thumbnails
        self.verified_pairs = 0
        self.dense_checks = 0

    def score(self, query: QueryFeatures, reference_id: str, similarity: float, margin: float = 0.0,
              votes: int = -1) -> PairScore:
        """Verify one candidate when it reaches the floor, else score it from the global similarity.

        `margin` (verify.candidate_margins over the query's candidates) and `votes` (local-descriptor votes,
        -1 when not counted) order the pair among the rejected ones.
        """
        rule = self.config.rule
        if not self.config.verify or similarity < self.config.candidate_floor:
            return global_only(rule, reference_id, similarity)
        reference = self.lookup(reference_id)
        features = query.get()
        if reference is None or features is None:
            return global_only(rule, reference_id, similarity)
        result = verify_pair(features[0], features[1], reference, self.config.features)
        self.verified_pairs += 1
        second_look = result.status == "fallback" or (result.status == "rejected" and similarity >= self.config.dense.rescue_floor)
        if second_look and self.thumbnails is not None:
            dense = self.dense(query, reference_id, similarity, margin, votes)
            if dense is not None:
                return dense
        return PairScore(reference_id, float(similarity), float(rule.score(float(similarity), result, margin, votes)),
                         int(result.inliers), bool(result.mirrored), result.status, float(margin),
                         raw_inliers=int(result.raw_inliers), votes=int(votes))

    def dense(self, query: QueryFeatures, reference_id: str, similarity: float, margin: float = 0.0,
              votes: int = -1) -> PairScore | None:
        """A keypoint-poor pair decided by the dense check (None when a thumbnail is missing).

        An alignment counts as a copy only at a global similarity of at least the dense floor
        (`DenseConfig.min_similarity`), or when it is exact (`DenseConfig.exact_strength`): among flat
        images of one kind a lookalike can align nearly as well as a copy, and the global similarity
        tells them apart (docs/verification.md). Otherwise the pair is rejected, its alignment's
        correlation and overlap (with the margin) still ranking it among the rejected pairs.
        """
        reference = self.thumbnails(reference_id) if self.thumbnails is not None else None
        mine = query.thumbnail()
        if reference is None or mine is None:
            return None
        rule, config = self.config.rule, self.config.dense
        self.dense_checks += 1
        result = dense_check(mine, reference, config)
        aligned = result.passes(config)
        status = "dense" if result.is_copy(config, similarity) else "rejected"
        # scored as a verified (or rejected) pair whose verification score is the dense agreement
        score = rule.scores(np.array([similarity]), np.array(["verified" if status == "dense" else "rejected"]),
                            np.array([0]), np.array([result.strength(config) if aligned else 0.0]), np.array([margin]),
                            np.array([result.correlation]), np.array([result.overlap]), np.array([votes]))[0]
        return PairScore(reference_id, float(similarity), float(score), 0, bool(result.mirrored), status, float(margin),
                         float(result.correlation), float(result.overlap), votes=int(votes))

    def score_query(self, image: Image.Image | None, candidates: Sequence[tuple[str, float]],
                    expand: Expander | None = None) -> list[PairScore]:
        """Score every candidate (reference id, global similarity) of one query image.

        `expand` (detector/local_candidates.py) adds the references with the most local-descriptor votes
        beyond the listed ones; every pair then records its votes.
        """
        query = QueryFeatures(image, self.config.features)
        candidates, votes = list(candidates), None
        if expand is not None and self.config.verify and query.get() is not None:
            extra, votes = expand(query.get(), candidates)
            candidates += extra
        margins = candidate_margins([similarity for _, similarity in candidates], self.config.candidate_floor)
        return [self.score(query, reference_id, similarity, float(margin), -1 if votes is None else votes.get(reference_id, 0))
                for (reference_id, similarity), margin in zip(candidates, margins)]


def top_k_candidates(queries: np.ndarray, references: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most similar references by inner product: (indices, similarities), best first."""
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(f"descriptor shapes do not match: queries {queries.shape}, references {references.shape}")
    k = min(k, references.shape[0])
    refs = torch.from_numpy(np.ascontiguousarray(references, dtype=np.float32))
    out_i = np.zeros((queries.shape[0], k), dtype=np.int64)
    out_v = np.zeros((queries.shape[0], k), dtype=np.float32)
    for start in range(0, queries.shape[0], block):
        chunk = torch.from_numpy(np.ascontiguousarray(queries[start:start + block], dtype=np.float32))
        values, indices = (chunk @ refs.T).topk(k, dim=1)
        out_i[start:start + len(chunk)] = indices.numpy()
        out_v[start:start + len(chunk)] = values.numpy()
    return out_i, out_v


def score_candidates(
    images: Iterable[tuple[str, Image.Image | None]], candidates: dict[str, list[tuple[str, float]]],
    verifier: PairVerifier, progress: Callable[[int], None] | None = None, local: "LocalCandidateSource | None" = None,
) -> Iterator[tuple[str, PairScore]]:
    """(query id, pair) for every candidate of every query; queries absent from `images` are scored globally.

    With `local`, each query's best-voted references by local descriptors join its candidates.
    """
    seen: set[str] = set()
    for query_id, image in images:
        listed = candidates.get(query_id)
        if listed is None or query_id in seen:
            continue
        seen.add(query_id)
        expand = None if local is None else partial(local.expand, query_id)
        for pair in verifier.score_query(image, listed, expand):
            yield query_id, pair
        if progress is not None:
            progress(1)
    for query_id in candidates:
        if query_id not in seen:
            for reference_id, similarity in candidates[query_id]:
                yield query_id, global_only(verifier.config.rule, reference_id, similarity)


def pairs_frame(rows: Iterable[tuple[str, PairScore]]) -> pd.DataFrame:
    """The scored pairs as a table with MATCH_COLUMNS, best score first within each query."""
    records = [
        (q, p.reference_id, p.score, p.global_similarity, p.inliers, int(p.mirrored), int(p.verified), p.status, p.votes)
        for q, p in rows
    ]
    frame = pd.DataFrame(records, columns=MATCH_COLUMNS)
    frame = frame.astype({"score": np.float64, "global_similarity": np.float32, "inliers": np.int64})
    return frame.sort_values(["query_id", "score", "global_similarity", "reference_id"],
                             ascending=[True, False, False, True], kind="mergesort").reset_index(drop=True)


def candidate_lists(query_ids: Sequence[str], reference_ids: Sequence[str], indices: np.ndarray,
                    values: np.ndarray) -> dict[str, list[tuple[str, float]]]:
    """Each query's (reference id, similarity) candidates from a top-k search."""
    return {
        q: [(reference_ids[int(i)], float(v)) for i, v in zip(row_i, row_v)]
        for q, row_i, row_v in zip(query_ids, indices, values)
    }


def feature_path(out_dir: Path) -> Path:
    """Where a matching run keeps the references' local features."""
    return Path(out_dir) / "reference_features"


__all__ = [
    "MATCH_COLUMNS", "UNVERIFIED", "VERIFIED_STATUSES", "TwoStageConfig", "PairScore", "PairVerifier", "QueryFeatures", "global_only",
    "top_k_candidates", "score_candidates", "pairs_frame", "candidate_lists", "feature_path",
]
