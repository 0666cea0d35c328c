"""`clip-audit detector eval`: score queries against references with a method, report ISC metrics per family.

Methods: `default`, a detector checkpoint PATH, `sscd:PATH`, a hash (`phash`, `dhash`, `ahash`,
`whash`) or `clip:CKPT` (a CLIP image tower, cosine of image embeddings). References and queries
are image sources; for detector methods a folder written by `clip-audit embed` is used as is.
The ground-truth CSV has columns `query_id,reference_id` and optionally `family`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from detector.hash_baselines import HASH_METHODS, hash_images, hash_scores
from detector.metrics import DetectionMetrics, Prediction, evaluate_predictions, recall_at_precision


@dataclass(frozen=True)
class GroundTruth:
    """True (query, reference) pairs and each query's transform family (None when not given)."""

    pairs: list[tuple[str, str]]
    family: dict[str, str]


@dataclass
class EvalReport:
    """Overall metrics and µAP / recall@P90 per transform family."""

    method: str
    overall: DetectionMetrics
    families: dict[str, DetectionMetrics] = field(default_factory=dict)
    n_queries: int = 0
    n_references: int = 0
    calibration: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"method": self.method, "n_queries": self.n_queries, "n_references": self.n_references,
                "calibration": self.calibration,
                "overall": self.overall.to_dict(), "families": {k: v.to_dict() for k, v in self.families.items()}}


def read_ground_truth(path: str | Path) -> GroundTruth:
    """Read `query_id,reference_id[,family]` rows; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for needed in ("query_id", "reference_id"):
            if needed not in cols:
                raise ValueError(f"{path}: missing column {needed!r} (columns: {', '.join(cols) or 'none'})")
        pairs, family = [], {}
        for line, row in enumerate(reader, start=2):
            q, r = (row["query_id"] or "").strip(), (row["reference_id"] or "").strip()
            if not q or not r:
                raise ValueError(f"{path}, line {line}: empty query_id or reference_id")
            pairs.append((q, r))
            fam = (row.get("family") or "").strip()
            if fam:
                if family.get(q, fam) != fam:
                    raise ValueError(f"{path}, line {line}: query {q!r} has two families ({family[q]!r}, {fam!r})")
                family[q] = fam
    return GroundTruth(pairs, family)


def top_k_predictions(query_ids: list[str], reference_ids: list[str], scores: np.ndarray, k: int) -> list[Prediction]:
    """The k best-scored references of each query, as (query, reference, score) triples."""
    if scores.shape != (len(query_ids), len(reference_ids)):
        raise ValueError(f"score matrix {scores.shape} does not match {len(query_ids)} queries x {len(reference_ids)} references")
    k = min(k, len(reference_ids))
    preds: list[Prediction] = []
    if k == 0:
        return preds
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    for qi, row in enumerate(idx):
        for ri in row:
            preds.append((query_ids[qi], reference_ids[int(ri)], float(scores[qi, ri])))
    return preds


def _examples(location: str, draft_size: int | None = None) -> Iterable[Any]:
    from detector.sources import open_images

    return open_images(location, draft_size=draft_size)


def _hash_side(location: str, method: str) -> tuple[list[str], np.ndarray]:
    ids, imgs_hashes = [], []
    batch: list = []
    for ex in _examples(location):
        ids.append(ex.id)
        batch.append(ex.image)
        if len(batch) == 256:
            imgs_hashes.append(hash_images(batch, method))
            batch = []
    if batch:
        imgs_hashes.append(hash_images(batch, method))
    return ids, (np.concatenate(imgs_hashes) if imgs_hashes else np.zeros((0, 8), np.uint8))


def detector_descriptors(location: str, runner: Any, batch_size: int) -> tuple[list[str], np.ndarray]:
    """(ids, descriptors) of an image source, or of an embed output folder read as it is."""
    from detector.embed import embed_examples, read_descriptors

    path = Path(location)
    if path.is_dir() and ((path / "descriptors.npy").is_file() or any(path.glob("descriptors-*.npy"))):
        ids, mat = read_descriptors(path)
        if mat.shape[1] != runner.dim:
            raise ValueError(f"{path}: descriptors have {mat.shape[1]} dimensions, the detector {runner.dim}")
        return ids, mat
    return embed_examples(runner, _examples(location, runner.input_size), batch_size)


def _clip_side(location: str, model: Any, batch_size: int) -> tuple[list[str], np.ndarray]:
    import torch

    transform = model.preprocess()
    ids, rows, batch = [], [], []

    def flush() -> None:
        with torch.inference_mode():
            feats = model.encode_image(torch.stack(batch), normalize=True)
        rows.append(feats.float().numpy())
        batch.clear()

    for ex in _examples(location):
        ids.append(ex.id)
        batch.append(transform(ex.image))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return ids, (np.concatenate(rows) if rows else np.zeros((0, 0), np.float32))


def compute_scores(method: str, references: str, queries: str, batch_size: int = 64,
                   device: str = "auto") -> tuple[list[str], list[str], np.ndarray]:
    """(query ids, reference ids, score matrix) for a method; higher scores = more similar."""
    if method in HASH_METHODS:
        rids, rh = _hash_side(references, method)
        qids, qh = _hash_side(queries, method)
        return qids, rids, hash_scores(qh, rh)
    if method.startswith("clip:"):
        from clip_core.checkpoint import load

        model = load(method[len("clip:"):])
        rids, rf = _clip_side(references, model, batch_size)
        qids, qf = _clip_side(queries, model, batch_size)
        return qids, rids, qf @ rf.T
    from detector.checkpoint import resolve_detector
    from detector.embed import DescriptorRunner

    runner = DescriptorRunner(resolve_detector(method), device)
    rids, rf = detector_descriptors(references, runner, batch_size)
    qids, qf = detector_descriptors(queries, runner, batch_size)
    return qids, rids, qf @ rf.T


def evaluate_scores(method: str, query_ids: list[str], reference_ids: list[str], scores: np.ndarray,
                    ground_truth: GroundTruth, top_k: int = 10, calibrate_precision: float | None = None) -> EvalReport:
    """ISC metrics overall and per family from a full score matrix (top-k predictions per query).

    With `calibrate_precision`, also the lowest score threshold whose precision reaches it (the
    detector's default threshold is calibrated this way at 0.95) and the recall there.
    """
    known_q, known_r = set(query_ids), set(reference_ids)
    for q, r in ground_truth.pairs:
        if q not in known_q:
            raise ValueError(f"ground truth names query {q!r}, which is not among the {len(query_ids)} queries")
        if r not in known_r:
            raise ValueError(f"ground truth names reference {r!r}, which is not among the {len(reference_ids)} references")
    preds = top_k_predictions(query_ids, reference_ids, scores, top_k)
    return report_from_predictions(method, preds, ground_truth, len(query_ids), len(reference_ids), calibrate_precision)


def report_from_predictions(method: str, preds: list[Prediction], ground_truth: GroundTruth, n_queries: int,
                            n_references: int, calibrate_precision: float | None = None) -> EvalReport:
    """ISC metrics overall and per family from (query, reference, score) predictions."""
    report = EvalReport(method, evaluate_predictions(preds, ground_truth.pairs), {}, n_queries, n_references)
    for fam in sorted(set(ground_truth.family.values())):
        qs = {q for q, f in ground_truth.family.items() if f == fam}
        fam_preds = [p for p in preds if p[0] in qs]
        fam_gt = [p for p in ground_truth.pairs if p[0] in qs]
        report.families[fam] = evaluate_predictions(fam_preds, fam_gt)
    if calibrate_precision is not None:
        if not 0.0 < calibrate_precision <= 1.0:
            raise ValueError(f"calibration precision must lie in (0, 1], got {calibrate_precision}")
        recall, threshold = recall_at_precision(preds, ground_truth.pairs, calibrate_precision)
        report.calibration = {"precision": calibrate_precision, "threshold": threshold, "recall": recall}
    return report


def evaluate_method(method: str, references: str, queries: str, ground_truth: str | Path, top_k: int = 10,
                    batch_size: int = 64, device: str = "auto", calibrate_precision: float | None = None) -> EvalReport:
    """Score `queries` against `references` with `method` and compute the ISC metrics."""
    gt = read_ground_truth(ground_truth)
    qids, rids, scores = compute_scores(method, references, queries, batch_size, device)
    return evaluate_scores(method, qids, rids, scores, gt, top_k, calibrate_precision)


def format_report(report: EvalReport) -> str:
    """A plain-text table: overall µAP, recall@P90 (threshold), acc@1, then µAP per family."""
    o = report.overall
    thr = "n/a" if o.threshold_at_p90 is None else f"{o.threshold_at_p90:.4f}"
    lines = [f"method {report.method}: {report.n_queries} queries, {report.n_references} references",
             f"  µAP {o.micro_ap:.4f}   recall@P90 {o.recall_at_p90:.4f} (score >= {thr})   acc@1 {o.accuracy_at_1:.4f}"]
    if report.families:
        lines.append(f"  {'family':<12} {'µAP':>7} {'R@P90':>7} {'pairs':>6}")
        for fam, m in report.families.items():
            lines.append(f"  {fam:<12} {m.micro_ap:7.4f} {m.recall_at_p90:7.4f} {m.n_ground_truth:6d}")
    if report.calibration is not None:
        c = report.calibration
        where = "never reached" if c["threshold"] is None else f"score >= {c['threshold']:.4f}, recall {c['recall']:.4f}"
        lines.append(f"  threshold for precision >= {c['precision']}: {where}")
    return "\n".join(lines)


__all__ = ["GroundTruth", "EvalReport", "read_ground_truth", "top_k_predictions", "compute_scores",
           "evaluate_scores", "report_from_predictions", "detector_descriptors", "evaluate_method", "format_report"]
