"""Stream pre-training shards through the evaluation index, one result file per shard, then reduce.

Each shard writes ``shards/<name>.neighbours.parquet`` and ``shards/<name>.matches.parquet`` through
temporary files renamed into place; a shard whose two files exist is skipped, so a killed run
resumes where it stopped. The reduce is associative (a top-k merge and a concatenation) and sorts
with fixed tie-breaking, so a resumed run writes identical outputs. Before them each shard writes
``shards/<name>.counts.json`` (readable and unreadable items), so the run's totals include shards
finished by an earlier run; a shard with no readable item is reported as it is met.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from clip_core.atomic_files import atomic_path, atomic_write_text, write_parquet_atomic
from clip_core.skip_check import check_readable
from detector.descriptor_files import DescriptorShard
from clip_core.engines import LocalEngine, ShardEngine, ShardFailure, ShardJob
from audit.overlap_search import MATCH_COLUMNS, NEIGHBOUR_COLUMNS, EvalIndex, top_k_per_eval

ShardLoader = Callable[[], DescriptorShard]
# (ids, descriptors, neighbours, matches, image shard or None, top_k) -> scored (neighbours, matches)
ShardScorer = Callable[[list, Any, pd.DataFrame, pd.DataFrame, Any, int], tuple[pd.DataFrame, pd.DataFrame]]
SCORE_FIELDS = [("score", pa.float64()), ("inliers", pa.int64()), ("verified", pa.int8()), ("mirrored", pa.int8()),
                ("status", pa.string())]
MATCH_SCHEMA = pa.schema([("pretraining_id", pa.string()), ("dataset", pa.string()), ("eval_id", pa.string()),
                          ("similarity", pa.float32()), *SCORE_FIELDS])
SCORED_MATCH_COLUMNS = MATCH_SCHEMA.names
SCORED_NEIGHBOUR_COLUMNS = NEIGHBOUR_COLUMNS + [name for name, _ in SCORE_FIELDS]


def _nothing_skipped() -> int:
    """Descriptor shards have no unreadable items."""
    return 0


@dataclass(frozen=True)
class PendingShard:
    """A pre-training shard by name, with a loader that embeds or reads it only when needed.

    `images` is the image shard behind it (None for descriptor input), read again for verification.
    `skipped` returns how many of its items the latest `load` found unreadable.
    """

    name: str
    load: ShardLoader
    images: Any = None
    skipped: Callable[[], int] = _nothing_skipped


@dataclass(frozen=True)
class OverlapSummary:
    """What a streaming run did; item counts cover every shard, those finished by an earlier run included."""

    shards_total: int
    shards_searched: int
    shards_skipped: int
    pretraining_items: int
    pretraining_skipped: int = 0
    empty_shards: tuple[str, ...] = ()
    failed_shards: tuple[ShardFailure, ...] = ()

    def check(self, max_skipped_fraction: float, where: str = "") -> None:
        """Raise TooManySkipped when nothing was read or too many pre-training items were unreadable."""
        check_readable(self.pretraining_items, self.pretraining_skipped, max_skipped_fraction,
                       f"--pretraining ({self.shards_total} shard(s))", where)


def shard_file_stem(name: str) -> str:
    """A file-system-safe stem for a shard name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "shard"


def _shard_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The two result files of one shard."""
    stem = shard_file_stem(name)
    return out_dir / "shards" / f"{stem}.neighbours.parquet", out_dir / "shards" / f"{stem}.matches.parquet"


def _counts_path(out_dir: Path, name: str) -> Path:
    """The file holding one shard's readable and unreadable item counts."""
    return out_dir / "shards" / f"{shard_file_stem(name)}.counts.json"


def _read_counts(out_dir: Path, name: str) -> tuple[int, int]:
    """(readable, unreadable) items of a finished shard."""
    path = _counts_path(out_dir, name)
    if not path.is_file():
        raise ValueError(f"{path} is missing beside the finished results of shard '{name}': they were written by "
                         "an older version; rerun with --overwrite or a new --out")
    counts = json.loads(path.read_text(encoding="utf-8"))
    return int(counts["items"]), int(counts["skipped"])


def _warn_if_empty(name: str, items: int, unreadable: int) -> None:
    """Say loudly that a shard gave nothing to search."""
    if items == 0:
        tqdm.write(f"warning: pre-training shard '{name}' yielded no readable item ({unreadable} unreadable; "
                   f"see skipped/{shard_file_stem(name)}.csv for image sources)")


@dataclass(frozen=True)
class ShardSearchContext:
    """What every shard's search needs: the (broadcast) evaluation index, the output folder, the scorer."""

    index: EvalIndex
    out_dir: Path
    scorer: ShardScorer | None = None


def stream_shards(index: EvalIndex, shards: Iterable[PendingShard], out_dir: Path, total: int | None = None,
                  scorer: ShardScorer | None = None, engine: ShardEngine | None = None) -> OverlapSummary:
    """Search every pre-training shard not yet done on `engine` (default: this process), writing result files atomically.

    Shards that fail on every attempt are listed in the summary (`failed_shards`); the rest are kept.
    """
    engine = engine or LocalEngine()
    searched = skipped = items = unreadable = 0
    empty: list[str] = []
    names: set[str] = set()
    todo: list[ShardJob] = []
    progress = tqdm(total=total, desc=f"overlap search ({engine.name})", unit="shard")

    def count(name: str, shard_items: int, shard_unreadable: int) -> None:
        nonlocal items, unreadable
        _warn_if_empty(name, shard_items, shard_unreadable)
        items, unreadable = items + shard_items, unreadable + shard_unreadable
        empty.extend([name] if shard_items == 0 else [])
        progress.update(1)
        progress.set_postfix(items=items, unreadable=unreadable)

    def finished(name: str, result: tuple[int, int]) -> None:
        nonlocal searched
        searched += 1
        count(name, *result)

    for pending in shards:
        stem = shard_file_stem(pending.name)
        if stem in names:
            raise ValueError(f"two pre-training shards map to the same result name '{stem}'")
        names.add(stem)
        neighbours_path, matches_path = _shard_paths(out_dir, pending.name)
        if neighbours_path.is_file() and matches_path.is_file():  # finished by an earlier run
            skipped += 1
            count(pending.name, *_read_counts(out_dir, pending.name))
        else:
            todo.append(ShardJob(pending.name, pending))
    if not names:
        raise ValueError("the pre-training source has no shards")
    try:
        failures = engine.run(search_shard_job, ShardSearchContext(index, Path(out_dir), scorer), todo, finished)
    finally:
        progress.close()
    return OverlapSummary(len(names), searched, skipped, items, unreadable, tuple(empty), tuple(failures))


def search_shard_job(context: ShardSearchContext, pending: PendingShard) -> tuple[int, int]:
    """The shard function every engine runs: load, search and score one shard; returns (readable, unreadable)."""
    return search_shard(context.index, pending, context.out_dir, context.scorer)


def search_shard(index: EvalIndex, pending: PendingShard, out_dir: Path, scorer: ShardScorer | None) -> tuple[int, int]:
    """Load, search and score one shard, writing its counts and result files; returns (readable, unreadable)."""
    neighbours_path, matches_path = _shard_paths(out_dir, pending.name)
    shard = pending.load()
    unreadable = int(pending.skipped())
    atomic_write_text(_counts_path(out_dir, pending.name), json.dumps({"items": len(shard.ids), "skipped": unreadable}) + "\n")
    neighbours, matches = index.search(shard.ids, shard.descriptors)
    if scorer is None:
        neighbours, matches = similarity_as_score(neighbours), similarity_as_score(matches)
    else:
        neighbours, matches = scorer(shard.ids, shard.descriptors, neighbours, matches, pending.images, index.config.top_k)
    write_parquet_atomic(neighbours, neighbours_path)
    write_parquet_atomic(matches, matches_path)
    return len(shard.ids), unreadable


def similarity_as_score(table: pd.DataFrame) -> pd.DataFrame:
    """A search table scored by its global similarity alone (no verification)."""
    out = table.copy()
    out["score"] = out["similarity"].astype("float64")
    out["inliers"], out["verified"], out["mirrored"], out["status"] = 0, 0, 0, "unverified"
    return out.astype({"inliers": "int64", "verified": "int8", "mirrored": "int8"})


def _scored(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A shard table with its score columns; files written before scoring existed are an error."""
    missing = [name for name, _ in SCORE_FIELDS if name not in table.columns]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)} column(s): it was written by an older version; "
                         "rerun `clip-audit overlap` with a new --out")
    return table


def reduce_shards(out_dir: Path, shard_names: list[str], top_k: int, neighbours_path: Path, matches_path: Path) -> None:
    """Merge the per-shard files into the global neighbour table (with ranks) and the match table.

    Memory stays flat in the pre-training size: the neighbour merge keeps a running top-k per
    evaluation example, and the match table is streamed into the output file shard by shard.
    """
    running = pd.DataFrame(columns=SCORED_NEIGHBOUR_COLUMNS)
    with atomic_path(matches_path) as temporary:
        writer = None
        try:
            for name in shard_names:
                neighbours_file, matches_file = _shard_paths(out_dir, name)
                shard_neighbours = _scored(pd.read_parquet(neighbours_file), neighbours_file)[SCORED_NEIGHBOUR_COLUMNS]
                running = top_k_per_eval(pd.concat([running, shard_neighbours], ignore_index=True) if len(running) else shard_neighbours, top_k)
                matches = _scored(pd.read_parquet(matches_file), matches_file)[SCORED_MATCH_COLUMNS]
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
