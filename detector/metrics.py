"""Copy-detection metrics with the ISC 2021 definitions: µAP, recall at precision 0.9, acc@1."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

Prediction = tuple[str, str, float]


@dataclass(frozen=True)
class DetectionMetrics:
    """µAP, recall@P90 with its score threshold (None if precision never reaches 0.9), acc@1, counts."""

    micro_ap: float
    recall_at_p90: float
    threshold_at_p90: float | None
    accuracy_at_1: float
    n_predictions: int
    n_ground_truth: int

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def _ground_truth_set(ground_truth: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    gt: set[tuple[str, str]] = set()
    for q, r in ground_truth:
        pair = (str(q), str(r))
        if pair in gt:
            raise ValueError(f"ground truth repeats the pair (query={pair[0]!r}, reference={pair[1]!r})")
        gt.add(pair)
    return gt


def ranked_labels(predictions: Sequence[Prediction], ground_truth: Iterable[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels (1 = true pair) and scores in one global ranking, ties broken against the method, and |ground truth|.

    Raises ValueError on a repeated (query, reference) pair or a non-finite score.
    """
    gt = _ground_truth_set(ground_truth)
    seen: set[tuple[str, str]] = set()
    labels = np.empty(len(predictions), dtype=np.int8)
    scores = np.empty(len(predictions), dtype=np.float64)
    for i, (q, r, s) in enumerate(predictions):
        pair = (str(q), str(r))
        if pair in seen:
            raise ValueError(f"predictions repeat the pair (query={pair[0]!r}, reference={pair[1]!r})")
        seen.add(pair)
        if not np.isfinite(s):
            raise ValueError(f"prediction (query={pair[0]!r}, reference={pair[1]!r}) has a non-finite score {s!r}")
        labels[i] = pair in gt
        scores[i] = s
    # sort by score descending; among equal scores negatives (label 0) come first
    order = np.lexsort((labels, -scores))
    return labels[order], scores[order], len(gt)


def micro_average_precision(predictions: Sequence[Prediction], ground_truth: Iterable[tuple[str, str]]) -> float:
    """µAP: average precision of all queries' predictions ranked together; unpredicted true pairs cap recall."""
    labels, _, n_gt = ranked_labels(predictions, ground_truth)
    return _micro_ap(labels, n_gt)


def _micro_ap(labels: np.ndarray, n_gt: int) -> float:
    if n_gt == 0:
        raise ValueError("µAP is undefined without ground-truth pairs")
    if labels.size == 0:
        return 0.0
    tp = np.cumsum(labels)
    precision = tp / np.arange(1, labels.size + 1)
    return float(np.sum(precision * labels) / n_gt)


def _recall_at_precision(labels: np.ndarray, scores: np.ndarray, n_gt: int, min_precision: float) -> tuple[float, float | None]:
    if labels.size == 0 or n_gt == 0:
        return 0.0, None
    tp = np.cumsum(labels)
    precision = tp / np.arange(1, labels.size + 1)
    recall = tp / n_gt
    # only cut-offs between distinct scores are realisable by a threshold: use the last index of each score
    last_of_score = np.r_[scores[1:] != scores[:-1], True]
    ok = np.flatnonzero((precision >= min_precision) & last_of_score)
    if ok.size == 0:
        return 0.0, None
    best = ok[np.argmax(recall[ok])]
    return float(recall[best]), float(scores[best])


def recall_at_precision(predictions: Sequence[Prediction], ground_truth: Iterable[tuple[str, str]],
                        min_precision: float = 0.9) -> tuple[float, float | None]:
    """Highest recall at a score threshold whose precision is >= `min_precision`, and that threshold (score >= t)."""
    labels, scores, n_gt = ranked_labels(predictions, ground_truth)
    return _recall_at_precision(labels, scores, n_gt, min_precision)


def accuracy_at_1(predictions: Sequence[Prediction], ground_truth: Iterable[tuple[str, str]]) -> float:
    """Share of queries with a true pair whose top-scored prediction is a true pair (ties count against)."""
    gt = _ground_truth_set(ground_truth)
    gt_queries = {q for q, _ in gt}
    if not gt_queries:
        raise ValueError("acc@1 is undefined without ground-truth pairs")
    best: dict[str, tuple[float, int]] = {}
    for q, r, s in predictions:
        q = str(q)
        if q not in gt_queries:
            continue
        key = (float(s), -int((q, str(r)) in gt))  # at equal score the wrong reference wins the tie
        if q not in best or key > best[q]:
            best[q] = key
    return sum(1 for q in gt_queries if q in best and best[q][1] == -1) / len(gt_queries)


def evaluate_predictions(predictions: Sequence[Prediction], ground_truth: Iterable[tuple[str, str]]) -> DetectionMetrics:
    """All three ISC metrics for one set of predictions."""
    gt = list(ground_truth)
    labels, scores, n_gt = ranked_labels(predictions, gt)
    recall, threshold = _recall_at_precision(labels, scores, n_gt, 0.9)
    return DetectionMetrics(
        micro_ap=_micro_ap(labels, n_gt),
        recall_at_p90=recall,
        threshold_at_p90=threshold,
        accuracy_at_1=accuracy_at_1(predictions, gt),
        n_predictions=len(predictions),
        n_ground_truth=n_gt,
    )
