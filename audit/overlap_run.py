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
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from clip_core.atomic_files import atomic_path, write_parquet_atomic
from detector.descriptor_files import DescriptorShard
from audit.overlap_search import MATCH_COLUMNS, NEIGHBOUR_COLUMNS, EvalIndex, top_k_per_eval

ShardLoader = Callable[[], DescriptorShard]
MATCH_SCHEMA = pa.schema([("pretraining_id", pa.string()), ("dataset", pa.string()), ("eval_id", pa.string()), ("similarity", pa.float32())])


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


def reduce_shards(out_dir: Path, shard_names: list[str], top_k: int, neighbours_path: Path, matches_path: Path) -> None:
    """Merge the per-shard files into the global neighbour table (with ranks) and the match table.

    Memory stays flat in the pre-training size: the neighbour merge keeps a running top-k per
    evaluation example, and the match table is streamed into the output file shard by shard.
    """
    running = pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    with atomic_path(matches_path) as temporary:
        writer = None
        try:
            for name in shard_names:
                neighbours_file, matches_file = _shard_paths(out_dir, name)
                shard_neighbours = pd.read_parquet(neighbours_file)[NEIGHBOUR_COLUMNS]
                running = top_k_per_eval(pd.concat([running, shard_neighbours], ignore_index=True) if len(running) else shard_neighbours, top_k)
                matches = pd.read_parquet(matches_file)[MATCH_COLUMNS]
                repeated = matches.duplicated(["pretraining_id", "dataset"])
                if repeated.any():
                    example = matches.loc[repeated, "pretraining_id"].iloc[0]
                    raise ValueError(f"pre-training id '{example}' occurs twice in shard '{name}'; ids must be unique")
                table = pa.Table.from_pandas(matches, schema=MATCH_SCHEMA, preserve_index=False)
                writer = writer or pq.ParquetWriter(temporary, MATCH_SCHEMA)
                writer.write_table(table)
            if writer is None:
                pq.write_table(MATCH_SCHEMA.empty_table(), temporary)
        finally:
            if writer is not None:
                writer.close()
    running.insert(2, "rank", running.groupby(["dataset", "eval_id"], sort=False).cumcount() + 1)
    write_parquet_atomic(running.reset_index(drop=True), neighbours_path)
