"""Throughput of the overlap shard function on the Ray engine with 1 and 2 single-thread workers.

The same shard function (decode, detector forward, search, verification of candidates, result
files) runs on every engine over the same WebDataset shards (bench/workload.py). Printed: images/s
of the local engine in this process on one thread (the peer), of Ray with 1 and 2 single-thread
actors (shard time only), the 2-vs-1 ratio (goal >= 1.7), and Ray's own start-up and overhead
separately (starting the local cluster, broadcasting the evaluation index, starting the actors).
Every run's per-shard tables are checked identical. Run it on an idle machine.

    .venv/bin/python bench/ray_scaling.py [--shards 8] [--per-shard 128] [--root runs/ray-scaling] [--no-verify]
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.overlap_images import embed_eval_images, pretraining_image_shards  # noqa: E402
from audit.overlap_run import ShardSearchContext, search_shard_job  # noqa: E402
from audit.overlap_search import EvalIndex, EvalSet, SearchConfig  # noqa: E402
from audit.overlap_verify import DEFAULT_CANDIDATE_FLOOR, ShardVerifier, verification_inputs  # noqa: E402
from bench.workload import DEFAULT_PHOTOS, build_workload  # noqa: E402
from clip_core.engines import LocalEngine, ShardJob  # noqa: E402
from clip_core.engines.ray_engine import RayEngine, import_ray  # noqa: E402


def run_engine(engine, context: ShardSearchContext, pretraining: Path, detector: str, out: Path) -> tuple[float, int]:
    """(seconds of shard work, images) of one engine over every shard, into a fresh folder."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pending = pretraining_image_shards(str(pretraining), detector, out)
    jobs = [ShardJob(p.name, p) for p in pending]
    images = [0]
    start = time.perf_counter()
    failures = engine.run(search_shard_job, ShardSearchContext(context.index, out, context.scorer), jobs,
                          lambda name, result: images.__setitem__(0, images[0] + result[0]))
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"shards failed: {failures}")
    return (engine.timings.shards_s if isinstance(engine, RayEngine) else elapsed), images[0]


def same_tables(a: Path, b: Path) -> bool:
    """Whether two runs wrote identical per-shard tables."""
    names = sorted(p.name for p in (a / "shards").glob("*.parquet"))
    if names != sorted(p.name for p in (b / "shards").glob("*.parquet")):
        return False
    return all(pd.read_parquet(a / "shards" / n).equals(pd.read_parquet(b / "shards" / n)) for n in names)


def main() -> None:
    """Build the workload, run it on each engine, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--per-shard", type=int, default=128)
    parser.add_argument("--n-eval", type=int, default=200)
    parser.add_argument("--root", type=Path, default=Path("runs/ray-scaling"))
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--detector", default="default")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    logging.captureWarnings(True)
    root = args.root / f"{args.shards}x{args.per_shard}"
    workload = build_workload(root, args.shards, args.per_shard, n_eval=args.n_eval, photos=args.photos)
    torch.set_num_threads(1)  # the peer: the local engine on one thread, like one Ray actor
    ids, descriptors, calibrated = embed_eval_images("photos", str(workload.eval_dir), args.detector, root / "eval-out" / "eval" / "photos")
    index = EvalIndex([EvalSet("photos", ids, descriptors)], SearchConfig(top_k=5))
    scorer = None
    if args.verify:
        inputs = verification_inputs([("photos", str(workload.eval_dir))], root / "eval-out", True, DEFAULT_CANDIDATE_FLOOR, 3, calibrated)
        scorer = ShardVerifier(index, inputs.stores, inputs.options, inputs.thumbnails)
    context = ShardSearchContext(index, root, scorer)

    local_s, images = run_engine(LocalEngine(), context, workload.pretraining, args.detector, root / "run-local")
    ray = import_ray()
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    cluster_s = time.perf_counter() - start
    results = {"local_1_thread": {"seconds": local_s, "images_per_s": images / local_s}}
    try:
        for workers in (1, 2):
            engine = RayEngine(workers=workers, threads=1)
            seconds, counted = run_engine(engine, context, workload.pretraining, args.detector, root / f"run-ray-{workers}")
            results[f"ray_{workers}_workers"] = {
                "seconds": seconds, "images_per_s": counted / seconds, "broadcast_s": engine.timings.broadcast_s,
                "actor_start_s": engine.timings.actors_s,
                "identical_to_local": same_tables(root / "run-local", root / f"run-ray-{workers}"),
            }
    finally:
        ray.shutdown()
    ratio = results["ray_2_workers"]["images_per_s"] / results["ray_1_workers"]["images_per_s"]
    summary = {"images": images, "shards": args.shards, "verify": args.verify, "pictures": workload.photos,
               "ray_cluster_start_s": cluster_s, "ratio_2_vs_1": ratio, "goal": 1.7, **results}
    print(f"workload: {images} images in {args.shards} shards ({workload.photos}), verification {'on' if args.verify else 'off'}")
    print(f"{'engine':<22}{'images/s':>10}{'shard s':>10}{'actor start s':>15}{'broadcast s':>13}{'identical':>11}")
    for name, row in results.items():
        print(f"{name:<22}{row['images_per_s']:>10.1f}{row['seconds']:>10.2f}{row.get('actor_start_s', 0):>15.2f}"
              f"{row.get('broadcast_s', 0):>13.3f}{str(row.get('identical_to_local', '-')):>11}")
    print(f"Ray local cluster start-up: {cluster_s:.1f} s (once per run, outside the figures above)")
    print(f"throughput ratio, 2 vs 1 single-thread Ray workers: {ratio:.2f} (goal >= 1.7); "
          f"Ray 1 worker vs local 1 thread: {results['ray_1_workers']['images_per_s'] / results['local_1_thread']['images_per_s']:.2f}")
    (root / "ray_scaling.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
