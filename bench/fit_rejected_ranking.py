"""Fit the ranking of rejected pairs (`detector.verify.RejectedRanking`) on the calibration set.

Runs the default two-stage path (`PairVerifier`: top-k candidates by global similarity, keypoint
verification, the dense check's second look) over a benchmark folder, keeps every pair's global
similarity, margin (`candidate_margins`) and dense alignment (correlation, overlap; 0 where it did
not run), and fits a logistic regression of "is a copy" on the pairs whose status is ``rejected``:
once on the global top-k alone (`ScoreRule.rejected`, what `overlap` uses) and once with up to
``--local-candidates`` references per query added by local-descriptor votes and the votes as a
feature (`ScoreRule.rejected_with_votes`, what `detector match` and `detector eval` use).
Fitted only on the calibration set (scripts/build_copy_benchmark.py ... --out runs/calibration
--seed 1); with ``--evaluate`` it then scores the benchmark in the same run and prints its µAP and
recall@P90 with the fitted rankings next to the peer rankings (the shipped ones, and g alone).

    .venv/bin/python bench/fit_rejected_ranking.py --calibration runs/calibration --evaluate runs/copy-benchmark-v2
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from detector.evaluate import detector_descriptors, read_ground_truth, report_from_predictions
from detector.local_candidates import LocalCandidateConfig, local_source
from detector.match import PairVerifier, TwoStageConfig, candidate_lists, score_candidates, top_k_candidates
from detector.match_run import iter_images, reference_store, reference_thumbnails, rule_for_detector
from detector.verify import DEFAULT_SCORE_RULE, RejectedRanking

FEATURES = ("similarity", "dense_correlation", "dense_overlap", "margin")
VOTED_FEATURES = (*FEATURES, "votes")  # votes enter as log(1 + votes), as in RejectedRanking.probability


def scored_pairs(bench: Path, scratch: Path, top_k: int,
                 local: LocalCandidateConfig | None = None) -> tuple[pd.DataFrame, object, int, int]:
    """Every (query, candidate) pair of a benchmark folder scored on the default path, with its ranking features."""
    from detector.checkpoint import resolve_detector
    from detector.embed import DescriptorRunner

    model = resolve_detector("default")
    config = rule_for_detector(replace(TwoStageConfig(), top_k=top_k), model)
    runner = DescriptorRunner(model, "cpu")
    reference_ids, references = detector_descriptors(str(bench / "references"), runner, 64)
    query_ids, queries = detector_descriptors(str(bench / "queries"), runner, 64)
    indices, values = top_k_candidates(queries, references, top_k)
    candidates = candidate_lists(query_ids, reference_ids, indices, values)
    store = reference_store(str(bench / "references"), scratch, config, progress=False)
    thumbs = reference_thumbnails(str(bench / "references"), scratch, config)
    verifier = PairVerifier(store.get, config, thumbs.get)
    source = local_source(store, local, query_ids, queries, reference_ids, references)
    gt = read_ground_truth(bench / "ground_truth.csv")
    listed = {(q, r) for q, pairs in candidates.items() for r, _ in pairs}
    rows = [(q, p.reference_id, p.global_similarity, p.score, p.status, p.margin, p.dense_correlation, p.dense_overlap,
             p.inliers, p.raw_inliers, p.votes, (q, p.reference_id) not in listed, (q, p.reference_id) in gt.pairs)
            for q, p in score_candidates(iter_images(str(bench / "queries"), config.features.max_side), candidates, verifier,
                                         local=source)]
    frame = pd.DataFrame(rows, columns=["query_id", "reference_id", "similarity", "score", "status", "margin",
                                        "dense_correlation", "dense_overlap", "inliers", "raw_inliers", "votes", "local",
                                        "copy"])
    frame[["dense_correlation", "dense_overlap"]] = frame[["dense_correlation", "dense_overlap"]].fillna(0.0).clip(0.0, 1.0)
    return frame, gt, len(query_ids), len(reference_ids)


def _design(frame: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The pairs' ranking features as RejectedRanking.probability sees them (votes as log(1 + votes))."""
    columns = [np.log1p(np.maximum(frame[n].to_numpy(np.float64), 0.0)) if n == "votes" else frame[n].to_numpy(np.float64)
               for n in features]
    return np.stack(columns, axis=1)


def fit(frame: pd.DataFrame, features: tuple[str, ...] = FEATURES) -> RejectedRanking:
    """Logistic regression of `copy` on the rejected pairs' features (coefficients must come out non-negative)."""
    from sklearn.linear_model import LogisticRegression

    rejected = frame[frame["status"] == "rejected"]
    if rejected["copy"].nunique() < 2:
        raise ValueError("the rejected pairs hold only copies or only non-copies: nothing to fit")
    model = LogisticRegression(C=10.0, max_iter=2000).fit(_design(rejected, features), rejected["copy"].to_numpy())
    coefficients = {name: round(float(c), 2) for name, c in zip(features, model.coef_[0])}
    return RejectedRanking(intercept=round(float(model.intercept_[0]), 2), **coefficients)


def rescored(frame: pd.DataFrame, ranking: RejectedRanking, ceiling: float) -> pd.DataFrame:
    """The pairs with their rejected ones scored by `ranking` (the others keep their score; votes used where present)."""
    out = frame.copy()
    rejected = out["status"].to_numpy() == "rejected"
    votes = out["votes"].to_numpy(np.float64) if "votes" in out and ranking.votes > 0 else None
    p = ranking.probability(*(out[name].to_numpy(np.float64) for name in FEATURES), votes)
    out.loc[rejected, "score"] = ceiling * p[rejected]
    return out


def metrics(frame: pd.DataFrame, gt, n_queries: int, n_references: int, top_k: int) -> dict:
    """µAP and recall@P90, overall and per family, of the pairs' scores."""
    ranked = frame.sort_values(["query_id", "score"], ascending=[True, False]).groupby("query_id").head(top_k)
    report = report_from_predictions("two-stage", list(zip(ranked.query_id, ranked.reference_id, ranked.score)),
                                     gt, n_queries, n_references)
    return {"micro_ap": round(report.overall.micro_ap, 4), "recall_at_p90": round(report.overall.recall_at_p90, 4),
            "families": {k: round(v.micro_ap, 3) for k, v in report.families.items()}}


def ceilings(frame: pd.DataFrame, gt, n_queries: int, n_references: int, top_k: int) -> dict[str, dict]:
    """µAP if the ranking were perfect where it can still be: without false verified pairs, rejected copies first."""
    wrong = frame["status"].isin(["verified", "dense"]).to_numpy() & ~frame["copy"].to_numpy()
    missed = (frame["status"].to_numpy() == "rejected") & frame["copy"].to_numpy()
    out = {}
    for name, (drop, lift) in {"no false verified pair": (True, False), "rejected copies first": (False, True),
                               "both": (True, True)}.items():
        oracle = frame.copy()
        if drop:
            oracle.loc[wrong, "score"] = 0.0
        if lift:
            oracle.loc[missed, "score"] = DEFAULT_SCORE_RULE.rejected_ceiling + 0.05
        out[name] = metrics(oracle, gt, n_queries, n_references, top_k)
    return out


def main() -> None:
    """Fit on the calibration set; optionally evaluate on the benchmark in the same run."""
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibration", type=Path, default=Path("runs/calibration"))
    ap.add_argument("--evaluate", type=Path, default=None, help="a benchmark folder scored with the fitted ranking")
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--local-candidates", type=int, default=5, help="extra candidates per query by local-descriptor votes")
    ap.add_argument("--out", type=Path, default=None, help="JSON with the coefficients and the figures")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fit-ranking-") as scratch:
        local = LocalCandidateConfig(per_query=args.local_candidates)
        calibration, _, _, _ = scored_pairs(args.calibration, Path(scratch) / "calibration", args.top_k, local)
        plain = calibration[~calibration["local"]]  # the global top-k alone: what overlap sees (no votes)
        ranking, voted = fit(plain), fit(calibration, VOTED_FEATURES)
        rejected = calibration[calibration["status"] == "rejected"]
        result = {"fitted": ranking.__dict__, "fitted_with_votes": voted.__dict__, "local": local.__dict__,
                  "calibration_rejected_pairs": int(len(rejected)), "calibration_rejected_copies": int(rejected["copy"].sum())}
        print(f"fitted on {len(rejected)} rejected calibration pairs ({int(rejected['copy'].sum())} copies):\n"
              f"  without votes {ranking}\n  with votes    {voted}")
        if args.evaluate is not None:
            bench, gt, nq, nr = scored_pairs(args.evaluate, Path(scratch) / "benchmark", args.top_k, local)
            ceiling = DEFAULT_SCORE_RULE.rejected_ceiling
            global_only = bench[~bench["local"]]
            peers = {"fitted": (global_only, ranking), "shipped": (global_only, DEFAULT_SCORE_RULE.rejected),
                     "similarity only": (global_only, RejectedRanking(
                         intercept=ranking.intercept, similarity=max(ranking.similarity, 1.0), dense_correlation=0.0,
                         dense_overlap=0.0, margin=0.0)),
                     "+local, fitted with votes": (bench, voted),
                     "+local, shipped with votes": (bench, DEFAULT_SCORE_RULE.rejected_with_votes),
                     "+local, fitted without votes": (bench, ranking)}
            result["benchmark"] = {name: metrics(rescored(pairs, r, ceiling), gt, nq, nr, args.top_k)
                                   for name, (pairs, r) in peers.items()}
            for name, figures in result["benchmark"].items():
                print(f"{args.evaluate} rejected ranking {name:28s} µAP {figures['micro_ap']:.4f} "
                      f"recall@P90 {figures['recall_at_p90']:.4f}  {figures['families']}")
            result["ceilings"] = ceilings(rescored(bench, voted, ceiling), gt, nq, nr, args.top_k)
            for name, figures in result["ceilings"].items():
                print(f"{args.evaluate} ceiling (+local, with votes), {name:24s} µAP {figures['micro_ap']:.4f} "
                      f"recall@P90 {figures['recall_at_p90']:.4f}  {figures['families']}")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
