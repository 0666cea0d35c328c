"""`clip-audit detector eval --verify`: the global and the two-stage score of one detector, in one run.

Both come from the same descriptors: the global report ranks each query's references by cosine
similarity; the two-stage report verifies each query's top candidates (detector/match.py) and ranks
them by the final score. Both keep `top_k` predictions per query, so their µAP compare directly.
"""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from detector.evaluate import EvalReport, detector_descriptors, evaluate_scores, read_ground_truth, report_from_predictions
from detector.local_candidates import local_source
from detector.match import PairVerifier, TwoStageConfig, candidate_lists, score_candidates, top_k_candidates
from detector.match_run import (
    is_image_source,
    iter_images,
    reference_store,
    reference_thumbnails,
    rule_for_detector,
)


def evaluate_two_stage(method: str, references: str, queries: str, ground_truth: str | Path, top_k: int = 10,
                       batch_size: int = 64, device: str = "auto", calibrate_precision: float | None = None,
                       config: TwoStageConfig = TwoStageConfig(), progress: bool = False) -> tuple[EvalReport, EvalReport]:
    """(global report, two-stage report) of a detector method on one benchmark.

    With `config.local.per_query` > 0, each query's best-voted references by local descriptors
    (detector/local_candidates.py) are verified beside its global top-k.
    """
    from detector.checkpoint import resolve_detector
    from detector.embed import DescriptorRunner

    if not (is_image_source(references) and is_image_source(queries)):
        raise ValueError("two-stage evaluation needs images on both sides, not descriptor folders")
    gt = read_ground_truth(ground_truth)
    model = resolve_detector(method)
    config = rule_for_detector(replace(config, top_k=max(config.top_k, top_k)), model)
    runner = DescriptorRunner(model, device)
    reference_ids, reference_matrix = detector_descriptors(references, runner, batch_size)
    query_ids, query_matrix = detector_descriptors(queries, runner, batch_size)
    global_report = evaluate_scores(method, query_ids, reference_ids, query_matrix @ reference_matrix.T, gt, top_k,
                                    calibrate_precision)
    indices, values = top_k_candidates(query_matrix, reference_matrix, config.top_k)
    candidates = candidate_lists(query_ids, reference_ids, indices, values)
    with tempfile.TemporaryDirectory(prefix="clip-audit-eval-") as scratch:
        store = reference_store(references, Path(scratch), config, progress)
        thumbs = reference_thumbnails(references, Path(scratch), config)
        verifier = PairVerifier(store.get, config, thumbs.get)
        source = local_source(store, config.local, query_ids, query_matrix, reference_ids, reference_matrix)
        scored: dict[str, list[tuple[str, float]]] = {}
        for query_id, pair in score_candidates(iter_images(queries, config.features.max_side), candidates, verifier,
                                               local=source):
            scored.setdefault(query_id, []).append((pair.reference_id, pair.score))
    predictions = [
        (q, r, s) for q, pairs in scored.items()
        for r, s in sorted(pairs, key=lambda item: -item[1])[:top_k]
    ]
    two_stage = report_from_predictions(f"{method}+verify", predictions, gt, len(query_ids), len(reference_ids),
                                        calibrate_precision)
    return global_report, two_stage
