"""The verification stage of `clip-audit overlap`: score each streamed shard's candidate pairs.

After a pre-training shard is searched (audit/overlap_search.py), the pairs whose global similarity
reaches the candidate floor are verified with local features (detector/match.py): the neighbours
of every evaluation example above the floor, and each pre-training item's `per_set` best
evaluation examples of every set above the floor. Only those pre-training images are decoded a
second time (``Shard.iter_selected``), at the verification resolution; the evaluation side's
features come from a memory-mapped store built once per set (``OUT/eval/NAME/local_features``).

Every row of the shard's neighbour and match tables gains ``score`` (what thresholds apply to),
``inliers``, ``verified``, ``mirrored`` and ``status``. Pairs below the floor, or without images,
are scored from the global similarity alone (status ``unverified``); with verification off,
``score`` is the global similarity itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from audit.overlap_run import similarity_as_score
from audit.overlap_search import MATCH_COLUMNS, NEIGHBOUR_COLUMNS, EvalIndex, top_k_per_eval
from detector.feature_store import FeatureStore
from detector.match import UNVERIFIED, PairScore, PairVerifier, QueryFeatures, TwoStageConfig
from detector.verify import candidate_margins

SCORE_COLUMNS = ["score", "inliers", "verified", "mirrored", "status"]
FEATURES_DIR = "local_features"


@dataclass(frozen=True)
class VerifyOptions:
    """The overlap search's second stage: two-stage settings and how many candidates each item gets."""

    two_stage: TwoStageConfig
    per_set: int = 3

    def __post_init__(self) -> None:
        if self.per_set < 1:
            raise ValueError(f"candidates per set must be at least 1, got {self.per_set}")

    @property
    def enabled(self) -> bool:
        """Whether pairs are verified at all."""
        return self.two_stage.verify


def global_scores(options: VerifyOptions, similarity: np.ndarray) -> np.ndarray:
    """Scores of pairs that were not verified: the rule's global-only map (the similarity itself when off)."""
    similarity = np.asarray(similarity, dtype=np.float64)
    if not options.enabled:
        return similarity
    return np.asarray(options.two_stage.rule.global_score(similarity), dtype=np.float64).reshape(similarity.shape)


def with_global_scores(table: pd.DataFrame, options: VerifyOptions) -> pd.DataFrame:
    """A search table with every pair scored from its global similarity."""
    out = similarity_as_score(table)
    out["score"] = global_scores(options, out["similarity"].to_numpy())
    return out


def _scored_rows(rows: list[tuple[str, str, str, PairScore]]) -> pd.DataFrame:
    """Verified pairs as a table: MATCH_COLUMNS + SCORE_COLUMNS."""
    return pd.DataFrame(
        [(p, d, e, s.global_similarity, s.score, s.inliers, int(s.verified), int(s.mirrored), s.status) for p, d, e, s in rows],
        columns=MATCH_COLUMNS + SCORE_COLUMNS,
    ).astype({"similarity": np.float32, "score": np.float64, "inliers": np.int64, "verified": np.int8, "mirrored": np.int8})


def item_margins(listed: list[tuple[str, str, float]], floor: float) -> list[float]:
    """Per (dataset, eval id, g) candidate of one pre-training image: its margin over the image's other candidates in that set."""
    margins = [0.0] * len(listed)
    by_set: dict[str, list[int]] = {}
    for i, (dataset, _, _) in enumerate(listed):
        by_set.setdefault(dataset, []).append(i)
    for rows in by_set.values():
        for i, m in zip(rows, candidate_margins([listed[i][2] for i in rows], floor)):
            margins[i] = float(m)
    return margins


class ShardVerifier:
    """Verifies the candidate pairs of one streamed shard at a time against the evaluation feature stores."""

    def __init__(self, index: EvalIndex, stores: dict[str, FeatureStore | None], options: VerifyOptions,
                 thumbnails: dict | None = None) -> None:
        self.index, self.options = index, options
        thumbnails = thumbnails or {}
        self.verifiers = {
            name: PairVerifier(store.get, options.two_stage, thumbnails[name].get if thumbnails.get(name) is not None else None)
            for name, store in stores.items() if store is not None
        }
        self.pairs_verified = 0
        self.images_decoded = 0

    def candidate_pairs(self, ids: list[str], descriptors: np.ndarray, neighbours: pd.DataFrame,
                        matches: pd.DataFrame) -> pd.DataFrame:
        """The shard's pairs at or above the floor (MATCH_COLUMNS), without repeats."""
        floor = self.options.two_stage.candidate_floor
        above = matches[matches["similarity"].to_numpy() >= floor]
        items = sorted(set(above["pretraining_id"]))
        position = {item: i for i, item in enumerate(ids)}
        rows = [position[item] for item in items]
        extra = self.index.candidates(items, descriptors[rows], self.options.per_set, floor) if rows else None
        near = neighbours[neighbours["similarity"].to_numpy() >= floor][MATCH_COLUMNS]
        parts = [near] + ([extra] if extra is not None and len(extra) else [])
        pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=MATCH_COLUMNS)
        return pairs.drop_duplicates(["pretraining_id", "dataset", "eval_id"]).reset_index(drop=True)

    def verify(self, pairs: pd.DataFrame, shard: Any) -> pd.DataFrame:
        """Score candidate pairs, decoding each pre-training image they name once."""
        by_item: dict[str, list[tuple[str, str, float]]] = {}
        for p, d, e, g in pairs[MATCH_COLUMNS].itertuples(index=False):
            by_item.setdefault(str(p), []).append((str(d), str(e), float(g)))
        rows: list[tuple[str, str, str, PairScore]] = []
        seen: set[str] = set()
        wanted = [item for item, listed in by_item.items() if any(d in self.verifiers for d, _, _ in listed)]
        if shard is not None and wanted:
            for example in shard.iter_selected(wanted, draft_size=self.options.two_stage.features.max_side):
                if example.id in seen or example.id not in by_item:
                    continue
                seen.add(example.id)
                self.images_decoded += 1
                query = QueryFeatures(example.image, self.options.two_stage.features)
                margins = item_margins(by_item[example.id], self.options.two_stage.candidate_floor)
                for (dataset, eval_id, g), margin in zip(by_item[example.id], margins):
                    verifier = self.verifiers.get(dataset)
                    if verifier is None:
                        continue
                    scored = verifier.score(query, eval_id, g, margin)
                    self.pairs_verified += int(scored.status != UNVERIFIED)
                    rows.append((example.id, dataset, eval_id, scored))
        done = {(p, d, e) for p, d, e, _ in rows}
        rule = self.options.two_stage.rule
        for item, listed in by_item.items():
            for dataset, eval_id, g in listed:
                if (item, dataset, eval_id) not in done:
                    score = rule.score(g, None) if self.options.enabled else g
                    rows.append((item, dataset, eval_id, PairScore(eval_id, g, float(score), 0, False, UNVERIFIED)))
        return _scored_rows(rows)

    def __call__(self, ids: list[str], descriptors: np.ndarray, neighbours: pd.DataFrame, matches: pd.DataFrame,
                 shard: Any, top_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The shard's (neighbours, matches) with every pair scored; candidates verified when possible."""
        neighbours = with_global_scores(neighbours, self.options)
        matches = with_global_scores(matches, self.options)
        if not self.options.enabled or not self.verifiers or len(ids) == 0:
            return neighbours, matches
        scored = self.verify(self.candidate_pairs(ids, descriptors, neighbours, matches), shard)
        if scored.empty:
            return neighbours, matches
        keys = ["pretraining_id", "dataset", "eval_id"]
        columns = NEIGHBOUR_COLUMNS + SCORE_COLUMNS
        merged = pd.concat([scored[columns], neighbours[columns]], ignore_index=True).drop_duplicates(keys)
        neighbours = top_k_per_eval(merged, top_k)[columns]
        best = pd.concat([scored[MATCH_COLUMNS + SCORE_COLUMNS], matches], ignore_index=True).drop_duplicates(keys)
        best = best.sort_values(["pretraining_id", "dataset", "score", "similarity", "eval_id"],
                                ascending=[True, True, False, False, True], kind="mergesort")
        matches = best.drop_duplicates(["pretraining_id", "dataset"]).reset_index(drop=True)
        return neighbours.reset_index(drop=True), matches


def feature_store_dir(out_dir: Path, name: str) -> Path:
    """Where an evaluation set's local features are stored."""
    return Path(out_dir) / "eval" / name / FEATURES_DIR


def build_eval_stores(named_sources: list[tuple[str, str]], out_dir: Path, options: VerifyOptions,
                      log: Callable[[str], None] | None = None) -> tuple[dict[str, FeatureStore | None], dict]:
    """Each evaluation set's local-feature store and dense-check thumbnails (built once); None for descriptor sets."""
    from detector.dense_check import THUMB_SIDE, build_thumbnails
    from detector.feature_store import build_feature_store, finished_store
    from detector.match_run import is_image_source, iter_images

    stores: dict[str, FeatureStore | None] = {}
    thumbnails: dict = {}
    config = options.two_stage.features
    for name, source in named_sources:
        if not options.enabled or not is_image_source(source):
            stores[name] = thumbnails[name] = None
            if options.enabled and log is not None:
                log(f"warning: --eval {name} is a descriptor folder: its pairs cannot be verified (global similarity only)")
            continue
        stores[name] = (finished_store(feature_store_dir(out_dir, name), config)
                        or build_feature_store(iter_images(source, config.max_side), feature_store_dir(out_dir, name), config))
        thumbnails[name] = build_thumbnails(iter_images(source, THUMB_SIDE), feature_store_dir(out_dir, name).parent / "thumbnails")
    return stores, thumbnails


DEFAULT_CANDIDATE_FLOOR = 0.5  # global similarity from which a pair is verified (docs/verification.md)


def second_stage_settings(verify: bool, candidate_floor: float, per_set: int) -> dict:
    """What determines the second stage's outputs, for the overlap settings record (resume checks)."""
    if not verify:
        return {"verify": False}
    from dataclasses import asdict

    from detector.dense_check import DenseConfig
    from detector.verify import DEFAULT_SCORE_RULE, VerifyConfig

    return {"verify": True, "candidate_floor": candidate_floor, "candidates_per_set": per_set,
            "features": VerifyConfig().to_dict(), "dense": asdict(DenseConfig()),
            # rejected_with_votes ranks pairs whose local-descriptor votes were counted: never in overlap
            "rule": {k: v for k, v in asdict(DEFAULT_SCORE_RULE).items() if k not in ("global_threshold", "rejected_with_votes")}}


def verifiable(pretraining: str, named_sources: list[tuple[str, str]]) -> bool:
    """Whether a run has pixels on both sides: image pre-training data and at least one image evaluation set."""
    from detector.match_run import is_image_source

    return is_image_source(pretraining) and any(is_image_source(source) for _, source in named_sources)


def default_score_threshold(verify: bool, global_threshold: float | None) -> float | None:
    """The detector's default threshold on `score`: the two-stage one when verifying, else the global one."""
    if global_threshold is None:
        return None
    from detector.verify import DEFAULT_SCORE_THRESHOLD

    return float(DEFAULT_SCORE_THRESHOLD) if verify else float(global_threshold)


def verification_inputs(named_sources: list[tuple[str, str]], out_dir: Path, verify: bool, candidate_floor: float,
                        per_set: int, global_threshold: float | None,
                        log: Callable[[str], None] | None = None) -> "VerificationInputs":
    """The verification stage of a run: the scoring rule anchored at the detector's threshold, and the feature stores."""
    from dataclasses import replace

    from audit.overlap_pipeline import VerificationInputs
    from detector.verify import DEFAULT_SCORE_RULE

    rule = DEFAULT_SCORE_RULE if global_threshold is None else replace(DEFAULT_SCORE_RULE, global_threshold=global_threshold)
    options = VerifyOptions(TwoStageConfig(verify=verify, candidate_floor=candidate_floor, rule=rule), per_set=per_set)
    stores, thumbnails = build_eval_stores(named_sources, out_dir, options, log)
    return VerificationInputs(options, stores, thumbnails)
