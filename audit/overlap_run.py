"""Stream pre-training shards through the evaluation index, one result file per shard, then reduce.

Each shard writes ``shards/<name>.neighbours.parquet`` and ``shards/<name>.matches.parquet`` through
temporary files renamed into place; a shard whose two files exist is skipped, so a killed run
resumes where it stopped. The reduce is associative (a top-k merge and a concatenation) and sorts
with fixed tie-breaking, so a resumed run writes identical outputs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd
from tqdm import tqdm

from audit.atomic_files import write_parquet_atomic
from audit.descriptor_sets import DescriptorShard
from audit.overlap_search import MATCH_COLUMNS, NEIGHBOUR_COLUMNS, EvalIndex, top_k_per_eval

ShardLoader = Callable[[], DescriptorShard]


@dataclass(frozen=True)
class PendingShard:
    """A pre-training shard by name, with a loader that embeds or reads it only when needed."""

    name: str
    load: ShardLoader


@dataclass(frozen=True)
class OverlapSummary:
    """What a streaming run did."""

    shards_total: int
    shards_searched: int
    shards_skipped: int
    pretraining_items: int


def shard_file_stem(name: str) -> str:
    """A file-system-safe stem for a shard name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "shard"


def _shard_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The two result files of one shard."""
    stem = shard_file_stem(name)
    return out_dir / "shards" / f"{stem}.neighbours.parquet", out_dir / "shards" / f"{stem}.matches.parquet"


def stream_shards(index: EvalIndex, shards: Iterable[PendingShard], out_dir: Path, total: int | None = None) -> OverlapSummary:
    """Search every pre-training shard not yet done, writing its result files atomically."""
    searched = skipped = items = 0
    names: set[str] = set()
    progress = tqdm(shards, total=total, desc="overlap search", unit="shard")
    for pending in progress:
        stem = shard_file_stem(pending.name)
        if stem in names:
            raise ValueError(f"two pre-training shards map to the same result name '{stem}'")
        names.add(stem)
        neighbours_path, matches_path = _shard_paths(out_dir, pending.name)
        if neighbours_path.is_file() and matches_path.is_file():
            skipped += 1
            continue
        shard = pending.load()
        neighbours, matches = index.search(shard.ids, shard.descriptors)
        write_parquet_atomic(neighbours, neighbours_path)
        write_parquet_atomic(matches, matches_path)
        searched += 1
        items += len(shard.ids)
        progress.set_postfix(items=items)
    if not names:
        raise ValueError("the pre-training source has no shards")
    return OverlapSummary(len(names), searched, skipped, items)


def reduce_shards(out_dir: Path, shard_names: list[str], top_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge the per-shard files into the global neighbour table (with ranks) and match table."""
    neighbour_parts, match_parts = [], []
    for name in shard_names:
        neighbours_path, matches_path = _shard_paths(out_dir, name)
        neighbour_parts.append(pd.read_parquet(neighbours_path))
        match_parts.append(pd.read_parquet(matches_path))
    neighbours = top_k_per_eval(pd.concat(neighbour_parts, ignore_index=True)[NEIGHBOUR_COLUMNS], top_k)
    neighbours.insert(2, "rank", neighbours.groupby(["dataset", "eval_id"], sort=False).cumcount() + 1)
    matches = pd.concat(match_parts, ignore_index=True)[MATCH_COLUMNS]
    duplicated = matches.duplicated(["pretraining_id", "dataset"])
    if duplicated.any():
        example = matches.loc[duplicated, "pretraining_id"].iloc[0]
        raise ValueError(f"pre-training id '{example}' occurs in more than one shard; ids must be unique")
    matches = matches.sort_values(["dataset", "similarity", "pretraining_id"], ascending=[True, False, True], kind="mergesort")
    return neighbours.reset_index(drop=True), matches.reset_index(drop=True)
