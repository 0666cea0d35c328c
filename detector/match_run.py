"""`clip-audit detector match` as a library call: two image sources in, ``matches.csv`` out.

For each query, the top-k references by global similarity, and with `config.local` the references with
the most local-descriptor votes (detector/local_candidates.py), are verified with local features
(detector/match.py). Outputs in the output folder:

- ``matches.csv``: query_id, reference_id, score (the ISC 2021 matching-track columns), then
  global_similarity, inliers, mirrored, verified, status, votes (local-descriptor votes, -1: not counted);
  best score first within each query;
- ``reference_features/``: the references' local features (memory-mapped, resumable);
- ``reference_thumbnails/``: the references' thumbnails for the dense check of keypoint-poor pairs;
- ``match_summary.json``: counts per status and the settings of the run.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from PIL import Image

from clip_core.atomic_files import atomic_write_text
from detector.dense_check import THUMB_SIDE, Thumbnails, build_thumbnails
from detector.feature_store import FeatureStore, build_feature_store, finished_store
from detector.local_candidates import local_source
from detector.match import (
    PairVerifier,
    TwoStageConfig,
    candidate_lists,
    feature_path,
    pairs_frame,
    score_candidates,
    top_k_candidates,
)
from detector.sources import open_images

MATCHES_FILE = "matches.csv"
SUMMARY_FILE = "match_summary.json"


@dataclass(frozen=True)
class MatchSummary:
    """What a matching run did."""

    queries: int
    references: int
    pairs: int
    verified_pairs: int
    statuses: dict[str, int]
    matches_path: str
    local_candidates: int = 0  # pairs added by local-descriptor votes (beyond each query's global top-k)


def iter_images(location: str, max_side: int) -> Iterator[tuple[str, Image.Image]]:
    """(id, image) of every readable image of a source, JPEGs decoded only as large as verification needs."""
    for example in open_images(location, draft_size=max_side):
        yield example.id, example.image


def is_image_source(location: str) -> bool:
    """False for a descriptor folder written by `clip-audit embed` (no pixels to verify)."""
    from detector.descriptor_files import is_descriptor_dir

    return not is_descriptor_dir(Path(location))


def rule_for_detector(config: TwoStageConfig, model: Any) -> TwoStageConfig:
    """The scoring rule anchored at this detector's calibrated global threshold."""
    from detector.checkpoint import calibrated_threshold

    threshold = calibrated_threshold(model)
    return config if threshold is None else replace(config, rule=replace(config.rule, global_threshold=threshold))


def reference_store(references: str, out_dir: Path, config: TwoStageConfig, progress: bool = True) -> FeatureStore | None:
    """The references' local features (built once, resumable), or None when they are descriptors only."""
    if not config.verify or not is_image_source(references):
        return None
    return finished_store(feature_path(out_dir), config.features) or build_feature_store(
        iter_images(references, config.features.max_side), feature_path(out_dir), config.features, progress=progress)


def reference_thumbnails(references: str, out_dir: Path, config: TwoStageConfig) -> Thumbnails | None:
    """The references' dense-check thumbnails (built once), or None when they are descriptors only."""
    if not config.verify or not is_image_source(references):
        return None
    return build_thumbnails(iter_images(references, THUMB_SIDE), Path(out_dir) / "reference_thumbnails")


def match_sources(references: str, queries: str, out_dir: Path, detector_spec: str = "default",
                  config: TwoStageConfig = TwoStageConfig(), batch_size: int = 64, device: str = "auto",
                  progress: bool = True) -> MatchSummary:
    """Match every query against the references in two stages and write ``matches.csv``."""
    from detector.checkpoint import resolve_detector
    from detector.embed import DescriptorRunner
    from detector.evaluate import detector_descriptors

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = resolve_detector(detector_spec)
    config = rule_for_detector(config, model)
    runner = DescriptorRunner(model, device)
    reference_ids, reference_matrix = detector_descriptors(references, runner, batch_size)
    query_ids, query_matrix = detector_descriptors(queries, runner, batch_size)
    if not reference_ids:
        raise ValueError(f"--references {references}: no readable images")
    if not query_ids:
        raise ValueError(f"--queries {queries}: no readable images")
    indices, values = top_k_candidates(query_matrix, reference_matrix, config.top_k)
    candidates = candidate_lists(query_ids, reference_ids, indices, values)
    store = reference_store(references, out_dir, config, progress)
    thumbs = reference_thumbnails(references, out_dir, config)
    verifier = PairVerifier(store.get if store is not None else (lambda _id: None), config,
                            thumbs.get if thumbs is not None else None)
    source = local_source(store, config.local, query_ids, query_matrix, reference_ids, reference_matrix)
    images = iter_images(queries, config.features.max_side) if store is not None and is_image_source(queries) else iter(())
    bar = _progress(len(query_ids), "verify queries") if progress and store is not None else None
    frame = pairs_frame(score_candidates(images, candidates, verifier, bar.update if bar is not None else None, source))
    if bar is not None:
        bar.close()
    path = out_dir / MATCHES_FILE
    atomic_write_text(path, frame.to_csv(index=False))
    summary = MatchSummary(len(query_ids), len(reference_ids), len(frame), verifier.verified_pairs,
                           {k: int(v) for k, v in frame["status"].value_counts().sort_index().items()}, str(path),
                           0 if source is None else source.added)
    settings = {"references": references, "queries": queries, "detector": detector_spec, "top_k": config.top_k,
                "verify": config.verify, "candidate_floor": config.candidate_floor, "local": asdict(config.local),
                "features": config.features.to_dict(), "rule": asdict(config.rule)}
    atomic_write_text(out_dir / SUMMARY_FILE, json.dumps({"summary": asdict(summary), "settings": settings}, indent=2) + "\n")
    return summary


def _progress(total: int, desc: str):  # noqa: ANN202 - a tqdm bar
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="query")


def read_matches(path: Path) -> pd.DataFrame:
    """Read a matches.csv back (ids as strings)."""
    return pd.read_csv(path, dtype={"query_id": str, "reference_id": str, "status": str})
