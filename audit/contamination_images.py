"""Image mode of `clip-audit contamination`: overlap search, thresholds and predictions joined per example.

The overlap stage calls the library of `clip-audit overlap` (`eval_set_from`, `pretraining_shards_from`,
`run_overlap_search`, `apply_thresholds`) with the audit folder as its output folder, so overlap results
already there are reused (finished shards are skipped, stored thresholds kept when nothing asks to
refit them). Thresholds apply to the ``score`` column when the overlap stage wrote one (the two-stage
verified score), else to ``similarity`` (see ``decision_column``).

``example_rows`` joins each evaluation example's overlap decision with its prediction and class
label: the rows of ``overlap_examples.csv`` and the input of the statistics.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from clip_core.atomic_files import atomic_write_text
from audit.contamination_config import ImageAuditConfig
from audit.contamination_inputs import few_ids
from audit.inspect_page import SOURCES_FILE
from audit.overlap_inputs import eval_set_from, image_sources, pretraining_shards_from
from audit.overlap_pipeline import (
    NEIGHBOURS_FILE, OVERLAP_TABLE_FILE, ThresholdOptions, apply_thresholds, read_decisions, run_overlap_search,
    write_summary,
)
from audit.overlap_run import OverlapSummary
from audit.overlap_search import SearchConfig
from audit.overlap_settings import check_overlap_settings
from audit.overlap_verify import default_score_threshold, second_stage_settings, verification_inputs
from audit.thresholds import ThresholdDecision
from detector.descriptor_files import is_descriptor_dir

Log = Callable[[str], None]
EXAMPLE_COLUMNS = ["dataset", "id", "label", "similarity", "score", "pretraining_id", "in_overlap", "correct"]


def decision_column(frame: pd.DataFrame) -> str:
    """The column thresholds apply to: the verified ``score`` when the overlap stage wrote one, else ``similarity``."""
    return "score" if "score" in frame.columns else "similarity"


@dataclass(frozen=True)
class OverlapStage:
    """The overlap results of an audit folder: per-example best matches, thresholds, skipped images."""

    out: Path
    best: pd.DataFrame  # dataset, id, similarity, score, pretraining_id, in_overlap
    decisions: Mapping[str, ThresholdDecision]
    skipped_eval: Mapping[str, frozenset[str]]
    skipped_pretraining: int
    summary: OverlapSummary
    uses_detector: bool


def _thresholds(config: ImageAuditConfig, summary: OverlapSummary, detector_default: float | None) -> dict[str, ThresholdDecision]:
    """Reuse the stored thresholds when nothing asks to refit them and no new shard was searched, else decide."""
    previous = read_decisions(config.out)
    names = set(config.eval_sources)
    asked = bool(config.thresholds) or config.labels is not None or config.default_threshold is not None
    covered = bool(previous) and names <= set(previous) and (config.out / OVERLAP_TABLE_FILE).is_file()
    if covered and not asked and summary.shards_searched == 0:
        return {name: previous[name] for name in sorted(names)}
    if config.default_threshold is not None:
        default: float | dict[str, float] | None = config.default_threshold
    elif covered:
        default = {name: decision.threshold for name, decision in previous.items()}
    else:
        default = detector_default
    options = ThresholdOptions(explicit=dict(config.thresholds), labels=config.labels, default=default,
                               target_precision=config.target_precision)
    return apply_thresholds(config.out, options)


def _skipped_ids(path: Path) -> frozenset[str]:
    """Ids listed in a skipped.csv (empty when absent)."""
    if not path.is_file() or path.stat().st_size == 0:
        return frozenset()
    frame = pd.read_csv(path, dtype=str)
    return frozenset(frame["id"]) if "id" in frame.columns else frozenset()


def _best_matches(out: Path, eval_ids: Mapping[str, list[str]]) -> pd.DataFrame:
    """Each evaluation example's decision (overlap_table.csv) with the pre-training item of its best pair."""
    table = pd.read_csv(out / OVERLAP_TABLE_FILE, dtype={"dataset": str, "id": str})
    neighbours = pd.read_parquet(out / NEIGHBOURS_FILE)
    value = decision_column(neighbours)
    best = (neighbours.sort_values(["dataset", "eval_id", value, "rank"], ascending=[True, True, False, True], kind="mergesort")
            .drop_duplicates(["dataset", "eval_id"]).rename(columns={"eval_id": "id"}))
    merged = table.merge(best[["dataset", "id", "pretraining_id"]], on=["dataset", "id"], how="left", validate="one_to_one")
    merged["score"] = merged[decision_column(table)]
    for name, ids in eval_ids.items():
        found = set(merged.loc[merged["dataset"] == name, "id"])
        differ = found ^ set(ids)
        if differ:
            raise ValueError(
                f"{out}: the stored overlap results do not match evaluation set '{name}' ({len(differ)} id(s) differ, "
                f"e.g. {few_ids(differ)}); they come from another run: use a fresh --out or remove {out / 'shards'}"
            )
    merged["in_overlap"] = merged["in_overlap"].astype(int).astype(bool)
    keep = merged["dataset"].isin(list(eval_ids))
    return merged.loc[keep, ["dataset", "id", "similarity", "score", "pretraining_id", "in_overlap"]].reset_index(drop=True)


def run_overlap_stage(config: ImageAuditConfig, log: Log = print) -> OverlapStage:
    """Search (or reuse) the overlap of every evaluation set with the pre-training data, verify, decide thresholds.

    The same steps as `clip-audit overlap` with the same settings record, so an overlap run in the
    folder is reused and one with other settings is refused (unless ``config.overwrite``).
    """
    out = Path(config.out)
    search = SearchConfig(top_k=config.top_k)
    named = list(config.eval_sources.items())
    verify_settings = second_stage_settings(config.verify, config.candidate_floor, config.candidates_per_set)
    check_overlap_settings(out, config.pretraining, dict(named), config.detector, search, verify_settings, config.overwrite)
    sets, calibrated = [], None
    for name, source in named:
        eval_set, found = eval_set_from(name, source, config.detector, out)
        sets.append(eval_set)
        calibrated = found if found is not None else calibrated
    shards, total = pretraining_shards_from(config.pretraining, config.detector, sets[0].descriptors.shape[1], out)
    sources = image_sources(config.pretraining, dict(named))
    atomic_write_text(out / SOURCES_FILE, json.dumps(sources, indent=2) + "\n")
    verification = verification_inputs(named, out, config.verify, config.candidate_floor, config.candidates_per_set,
                                       calibrated, log)
    summary = run_overlap_search(sets, shards, out, search, total, verification)
    decisions = _thresholds(config, summary, default_score_threshold(config.verify, calibrated))
    write_summary(out, summary, decisions)
    best = _best_matches(out, {s.name: list(s.ids) for s in sets})
    uses_detector = sources["pretraining"] is not None or bool(sources["eval"])
    log(f"overlap: searched {summary.shards_searched} shard(s), reused {summary.shards_skipped}; thresholds "
        + ", ".join(f"{n} {decisions[n].threshold:.4g} ({decisions[n].rule})" for n in sorted(decisions)))
    return OverlapStage(out, best, {n: decisions[n] for n in config.eval_sources},
                        {n: _skipped_ids(out / "eval" / n / "skipped.csv") for n in config.eval_sources},
                        summary.pretraining_skipped, summary, uses_detector)


def source_labels(source: str) -> dict[str, str] | None:
    """Class label per example id of an image source, read without decoding (None for descriptors or unlabelled)."""
    if is_descriptor_dir(Path(source)):
        return None
    from clip_core.data import open_source

    labels = {record.id: record.label for record in open_source(source).records() if record.label is not None}
    return labels or None


def example_rows(
    stage: OverlapStage, predictions: Mapping[str, pd.DataFrame], labels: Mapping[str, Mapping[str, str] | None],
) -> pd.DataFrame:
    """Per-example rows (EXAMPLE_COLUMNS) joining each example's overlap decision, prediction and label.

    ``predictions[name]`` has columns id, correct and optionally label. Every evaluation example needs
    a prediction; a predicted id the overlap stage lacks is left out only when its image
    was unreadable, otherwise it is an error listing some of them.
    """
    parts = []
    for name, frame in predictions.items():
        decided = stage.best[stage.best["dataset"] == name]
        ids, predicted = set(decided["id"]), set(frame["id"])
        missing, extra = ids - predicted, predicted - ids
        unreadable = extra & stage.skipped_eval.get(name, frozenset())
        if missing or extra - unreadable:
            lines = [f"dataset '{name}': the predictions do not match the evaluation set"]
            if missing:
                lines.append(f"{len(missing)} example(s) without a prediction: {few_ids(missing)}")
            if extra - unreadable:
                lines.append(f"{len(extra - unreadable)} predicted id(s) not in the evaluation set: {few_ids(extra - unreadable)}")
            raise ValueError("; ".join(lines))
        merged = decided.merge(frame[frame["id"].isin(ids)], on="id", how="inner", validate="one_to_one")
        if "label" not in merged.columns:
            known = labels.get(name) or {}
            merged["label"] = merged["id"].map(known)
        parts.append(merged)
    rows = pd.concat(parts, ignore_index=True)
    rows["correct"] = rows["correct"].astype(bool)
    return rows[EXAMPLE_COLUMNS].sort_values(["dataset", "id"], kind="mergesort").reset_index(drop=True)
