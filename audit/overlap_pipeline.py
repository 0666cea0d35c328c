"""`clip-audit overlap` as a library call: descriptors in, neighbour tables and thresholds out.

Outputs in the output folder:

- ``neighbours.parquet``: dataset, eval_id, rank, pretraining_id, similarity, score, inliers,
  verified, mirrored, status (top-k per example, ranked by score);
- ``pretraining_matches.parquet``: pretraining_id, dataset, eval_id, similarity, score, inliers,
  verified, mirrored, status (each pre-training item's best match in each evaluation set);
- ``thresholds.json``: per dataset, the threshold on ``score`` and the rule that set it (see audit.thresholds);
- ``overlap_table.csv``: dataset, id, similarity, score, inliers, verified, in_overlap (the best-scored
  pair of each evaluation example), the input of `clip-audit contamination --overlap-table`;
- ``overlap_summary.json``: counts per dataset and what the streaming run did.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

import pandas as pd
import pyarrow.parquet as pq

from clip_core.atomic_files import atomic_write_text
from audit.overlap_run import SCORED_MATCH_COLUMNS, OverlapSummary, PendingShard, reduce_shards, stream_shards
from audit.overlap_search import EvalIndex, EvalSet, SearchConfig
from audit.thresholds import ThresholdDecision, attach_similarities, decide_thresholds, read_labels

from clip_core.engines import ShardsFailed

if TYPE_CHECKING:
    from clip_core.engines import ShardEngine
    from audit.overlap_verify import VerifyOptions

NEIGHBOURS_FILE = "neighbours.parquet"
MATCHES_FILE = "pretraining_matches.parquet"
THRESHOLDS_FILE = "thresholds.json"
OVERLAP_TABLE_FILE = "overlap_table.csv"
TABLE_COLUMNS = ["dataset", "id", "similarity", "score", "inliers", "verified"]
FAILED_SHARDS_FILE = "failed_shards.json"
IMPLAUSIBLE_SHARE = 0.5  # a threshold flagging more of a set than this is reported


@dataclass(frozen=True)
class VerificationInputs:
    """The second stage of a run: its options and each evaluation set's feature store (None: not verifiable)."""

    options: "VerifyOptions"
    stores: dict = field(default_factory=dict)
    thumbnails: dict = field(default_factory=dict)  # per set: detector.dense_check.Thumbnails or None


@dataclass(frozen=True)
class ThresholdOptions:
    """Where thresholds come from: explicit values, a labels file, the detector's default."""

    explicit: dict[str, float] = field(default_factory=dict)
    labels: Path | None = None
    default: float | Mapping[str, float] | None = None
    target_precision: float = 0.95


def run_overlap_search(
    eval_sets: list[EvalSet], shards: Iterable[PendingShard], out_dir: Path, config: SearchConfig,
    total_shards: int | None = None, verification: "VerificationInputs | None" = None,
    engine: "ShardEngine | None" = None,
) -> OverlapSummary:
    """Stream the pre-training shards and write the reduced neighbour and match tables.

    With `verification`, each shard's candidate pairs are verified (audit/overlap_verify.py);
    without it every pair is scored by its global similarity. `engine` (default: this process) runs
    the per-shard searches; shards that fail on every attempt are listed in ``failed_shards.json``
    and raise `ShardsFailed` before the reduce (a partial neighbour table is never written).
    """
    names = [s.name for s in eval_sets]
    if len(set(names)) != len(names):
        raise ValueError(f"evaluation set names must be unique, got {names}")
    out_dir = Path(out_dir)
    index = EvalIndex(eval_sets, config)
    shard_list = list(shards)
    scorer = None
    if verification is not None:
        from audit.overlap_verify import ShardVerifier

        scorer = ShardVerifier(index, verification.stores, verification.options, verification.thumbnails)
    summary = stream_shards(index, shard_list, out_dir, total=total_shards or len(shard_list), scorer=scorer,
                            engine=engine)
    failed_path = out_dir / FAILED_SHARDS_FILE
    if summary.failed_shards:
        atomic_write_text(failed_path, json.dumps([f.to_dict() for f in summary.failed_shards], indent=2) + "\n")
        raise ShardsFailed(summary.failed_shards, str(out_dir / "shards"))
    failed_path.unlink(missing_ok=True)
    reduce_shards(out_dir, [s.name for s in shard_list], config.top_k, out_dir / NEIGHBOURS_FILE, out_dir / MATCHES_FILE)
    return summary


def best_similarities(neighbours: pd.DataFrame) -> pd.DataFrame:
    """Each evaluation example's best-scored pair: columns dataset, id, similarity, score, inliers, verified."""
    best = neighbours[neighbours["rank"] == 1]
    return best.rename(columns={"eval_id": "id"})[TABLE_COLUMNS].reset_index(drop=True)


def apply_thresholds(out_dir: Path, options: ThresholdOptions) -> dict[str, ThresholdDecision]:
    """Decide every dataset's threshold and write thresholds.json and overlap_table.csv."""
    out_dir = Path(out_dir)
    neighbours_path = out_dir / NEIGHBOURS_FILE
    if not neighbours_path.is_file():
        raise FileNotFoundError(f"no overlap results in {out_dir}: {NEIGHBOURS_FILE} is missing (run `clip-audit overlap`)")
    neighbours = pd.read_parquet(neighbours_path)
    labels = None
    if options.labels is not None:
        labels = attach_similarities(read_labels(options.labels), neighbours, str(options.labels), column="score")
    datasets = sorted(neighbours["dataset"].unique())
    decisions = decide_thresholds(datasets, options.explicit, labels, options.default, options.target_precision, column="score")
    atomic_write_text(
        out_dir / THRESHOLDS_FILE, json.dumps({k: v.to_dict() for k, v in decisions.items()}, indent=2) + "\n"
    )
    table = best_similarities(neighbours)
    table["in_overlap"] = [
        int(s >= decisions[d].threshold) for d, s in zip(table["dataset"], table["score"])
    ]
    atomic_write_text(out_dir / OVERLAP_TABLE_FILE, table.to_csv(index=False))
    return decisions


def write_summary(out_dir: Path, summary: OverlapSummary, decisions: dict[str, ThresholdDecision]) -> Path:
    """Write overlap_summary.json: counts per dataset and the streaming run's figures."""
    table = pd.read_csv(Path(out_dir) / OVERLAP_TABLE_FILE, dtype={"id": str})
    per_dataset = {
        name: {
            "n_eval": int(len(group)), "n_overlap": int(group["in_overlap"].sum()),
            "overlap_fraction": float(group["in_overlap"].mean()), "threshold": decisions[name].threshold,
            "threshold_rule": decisions[name].rule,
            "n_overlap_verified": int((group["in_overlap"] * group["verified"]).sum()),
        }
        for name, group in table.groupby("dataset")
    }
    path = Path(out_dir) / "overlap_summary.json"
    payload = {"run": asdict(summary), "datasets": per_dataset, "warnings": implausible_overlap(per_dataset)}
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return path


def implausible_overlap(per_dataset: dict[str, dict]) -> list[str]:
    """Warnings for thresholds that flag an implausible share of a set (more than IMPLAUSIBLE_SHARE)."""
    return [
        f"dataset '{name}': the threshold {d['threshold']:.4g} ({d['threshold_rule']}) flags {d['n_overlap']} of "
        f"{d['n_eval']} examples ({d['overlap_fraction']:.0%}) as overlap, which is implausible for a test set; "
        f"inspect the pairs (`clip-audit inspect --dataset {name}`) and refit with --labels, or set --threshold"
        for name, d in per_dataset.items() if d["overlap_fraction"] > IMPLAUSIBLE_SHARE
    ]


def read_decisions(out_dir: Path) -> dict[str, ThresholdDecision]:
    """Read thresholds.json back into decisions (empty when absent)."""
    path = Path(out_dir) / THRESHOLDS_FILE
    if not path.is_file():
        return {}
    return {name: ThresholdDecision(**{k: (math.nan if v is None else v) for k, v in d.items()}) for name, d in json.loads(path.read_text()).items()}


def decontamination_list(out_dir: Path) -> pd.DataFrame:
    """Pre-training items whose score reaches each dataset's threshold: pretraining_id, dataset, eval_id, similarity, score, ..."""
    out_dir = Path(out_dir)
    thresholds_path, matches_path = out_dir / THRESHOLDS_FILE, out_dir / MATCHES_FILE
    for path in (thresholds_path, matches_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `clip-audit overlap` (with thresholds) first")
    thresholds = {name: d.threshold for name, d in read_decisions(out_dir).items()}
    neighbours = pd.read_parquet(out_dir / NEIGHBOURS_FILE)
    # Each pre-training item's best match per set (streamed by row group, so memory stays flat),
    # plus every listed neighbour pair: an item can copy several evaluation examples, one row each.
    parts = [neighbours[SCORED_MATCH_COLUMNS]]
    for batch in pq.ParquetFile(matches_path).iter_batches(batch_size=1 << 16):
        frame = batch.to_pandas()
        parts.append(frame[frame["score"].to_numpy() >= frame["dataset"].map(thresholds).to_numpy(float)])
    pairs = pd.concat(parts, ignore_index=True).drop_duplicates(["pretraining_id", "dataset", "eval_id"])
    keep = pairs["score"].to_numpy() >= pairs["dataset"].map(thresholds).to_numpy(float)
    return pairs[keep].sort_values(
        ["dataset", "score", "similarity", "pretraining_id", "eval_id"], ascending=[True, False, False, True, True],
        kind="mergesort",
    ).reset_index(drop=True)
