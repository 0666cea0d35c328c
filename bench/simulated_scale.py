"""A simulated pre-training set of up to 10^7 items through the overlap shard functions: memory flat, time linear.

Descriptors are drawn (seeded, shard by shard, never all in memory) instead of decoded, and every
shard hides `--planted-per-shard` noisy copies of evaluation descriptors, so the run has a known
answer. Each size runs in a fresh process (the same `stream_shards` + `reduce_shards` as
`clip-audit overlap`, on `--engine`), reporting seconds, seconds per 10^6 items, peak resident
memory, and how many planted copies came back as their evaluation example's top neighbour.

    .venv/bin/python bench/simulated_scale.py [--sizes 100000 1000000 10000000] [--n-eval 1000] [--dim 512]
        [--shard-size 100000] [--engine local|ray] [--root runs/simulated-scale]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.overlap_run import PendingShard, reduce_shards, stream_shards  # noqa: E402
from audit.overlap_search import EvalIndex, EvalSet, SearchConfig  # noqa: E402
from clip_core.engines import EngineOptions, build_engine  # noqa: E402
from detector.descriptor_files import DescriptorShard  # noqa: E402

NOISE = 0.02  # per-dimension noise of a planted copy before renormalising (cosine about 0.9 at 512-d)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def eval_descriptors(n_eval: int, dim: int) -> np.ndarray:
    """The evaluation set's descriptors (seed 0)."""
    return unit_rows(np.random.default_rng(0).standard_normal((n_eval, dim), dtype=np.float32))


@dataclass(frozen=True)
class SimulatedShard:
    """Draws one shard's descriptors when called, with planted copies at known rows (picklable)."""

    number: int
    size: int
    dim: int
    planted_rows: tuple[int, ...]
    planted_copies: np.ndarray  # (len(planted_rows), dim)

    @property
    def name(self) -> str:
        return f"sim-{self.number:05d}"

    def __call__(self) -> DescriptorShard:
        rng = np.random.default_rng(1_000_003 + self.number)
        matrix = unit_rows(rng.standard_normal((self.size, self.dim), dtype=np.float32))
        matrix[list(self.planted_rows)] = self.planted_copies
        start = self.number * self.size
        return DescriptorShard(self.name, [f"p{start + i:010d}" for i in range(self.size)], matrix)


def simulated_shards(total: int, shard_size: int, eval_matrix: np.ndarray, per_shard: int) -> tuple[list[PendingShard], dict]:
    """The pending shards and the answer key {eval id: pre-training id}."""
    rng = np.random.default_rng(7)
    pending, answer = [], {}
    targets = rng.permutation(len(eval_matrix))
    used = 0
    for number in range(total // shard_size):
        rows = tuple(sorted(rng.choice(shard_size, per_shard, replace=False).tolist()))
        chosen = targets[used:used + per_shard] if used + per_shard <= len(targets) else np.array([], int)
        rows = rows[:len(chosen)]
        used += len(chosen)
        noisy = eval_matrix[chosen] + rng.normal(0, NOISE, (len(chosen), eval_matrix.shape[1])).astype(np.float32)
        loader = SimulatedShard(number, shard_size, eval_matrix.shape[1], rows, unit_rows(noisy) if len(chosen) else noisy)
        pending.append(PendingShard(loader.name, loader))
        answer.update({f"e{e:06d}": f"p{number * shard_size + r:010d}" for e, r in zip(chosen, rows)})
    return pending, answer


def one_size(args: argparse.Namespace) -> dict:
    """Run one size in this process and return its figures."""
    eval_matrix = eval_descriptors(args.n_eval, args.dim)
    out = args.root / f"n{args.size}"
    shutil.rmtree(out, ignore_errors=True)
    config = SearchConfig(top_k=5)
    index = EvalIndex([EvalSet("sim", [f"e{i:06d}" for i in range(args.n_eval)], eval_matrix)], config)
    pending, answer = simulated_shards(args.size, args.shard_size, eval_matrix, args.planted_per_shard)
    engine = build_engine(EngineOptions(engine=args.engine))
    start = time.perf_counter()
    summary = stream_shards(index, pending, out, total=len(pending), engine=engine)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    reduce_shards(out, [p.name for p in pending], config.top_k, out / "neighbours.parquet", out / "pretraining_matches.parquet")
    reduce_s = time.perf_counter() - start
    top = pd.read_parquet(out / "neighbours.parquet")
    top = top[top["rank"] == 1].set_index("eval_id")["pretraining_id"]
    found = sum(top.get(e) == p for e, p in answer.items())
    disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    shutil.rmtree(out, ignore_errors=True)
    return {"size": args.size, "shards": len(pending), "items": summary.pretraining_items, "search_s": search_s,
            "reduce_s": reduce_s, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "planted": len(answer), "planted_found": int(found), "disk_mib": disk / 2**20}


def main() -> None:
    """Run every size in a fresh process; print the table and write simulated_scale.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # one size, in a child process
    parser.add_argument("--n-eval", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--shard-size", type=int, default=100_000)
    parser.add_argument("--planted-per-shard", type=int, default=5)
    parser.add_argument("--engine", default="local")
    parser.add_argument("--root", type=Path, default=Path("runs/simulated-scale"))
    args = parser.parse_args()
    if args.size is not None:
        print(json.dumps(one_size(args)))
        return
    rows = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--size", str(size), "--n-eval", str(args.n_eval), "--dim", str(args.dim),
                   "--shard-size", str(args.shard_size), "--planted-per-shard", str(args.planted_per_shard),
                   "--engine", args.engine, "--root", str(args.root)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(f"{row['size']:>11,} items  {row['shards']:>4} shards  search {row['search_s']:7.1f} s  "
              f"({row['search_s'] / row['size'] * 1e6:6.2f} s per 10^6)  reduce {row['reduce_s']:6.1f} s  "
              f"peak RSS {row['peak_rss_mib']:7.0f} MiB  planted found {row['planted_found']}/{row['planted']}  "
              f"result files {row['disk_mib']:.0f} MiB", flush=True)
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / "simulated_scale.json").write_text(json.dumps({"n_eval": args.n_eval, "dim": args.dim, "engine": args.engine,
                                                                "shard_size": args.shard_size, "runs": rows}, indent=2) + "\n")
    per_million = [r["search_s"] / r["size"] * 1e6 for r in rows]
    print(f"time per 10^6 items {min(per_million):.2f}-{max(per_million):.2f} s (linear when flat); "
          f"peak RSS {rows[0]['peak_rss_mib']:.0f} -> {rows[-1]['peak_rss_mib']:.0f} MiB from {rows[0]['size']:,} to {rows[-1]['size']:,} items")


if __name__ == "__main__":
    main()
