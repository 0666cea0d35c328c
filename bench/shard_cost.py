"""The cost model of one overlap shard per 1,000 images on one thread: decode, forward, search, write.

On a WebDataset shard of JPEG photographs (bench/workload.py), each stage of the shard function is
timed alone on one thread: decoding to the detector's input (JPEG draft decoding included), the
default detector's forward pass, the exact search against `--n-eval` evaluation descriptors, and
writing the shard's result files. The search must stay a small fraction of the forward pass. It
also prints the resident memory of a worker after one shard and the projection of an audit of
`--project` images onto N single-thread CPU workers (docs/scaling.md derives the GPU case from it).

    .venv/bin/python bench/shard_cost.py [--images 1000] [--n-eval 100000] [--project 400000000]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.overlap_run import similarity_as_score  # noqa: E402
from audit.overlap_search import EvalIndex, EvalSet, SearchConfig  # noqa: E402
from bench.workload import DEFAULT_PHOTOS, build_workload  # noqa: E402
from clip_core.atomic_files import write_parquet_atomic  # noqa: E402
from detector.checkpoint import resolve_detector  # noqa: E402
from detector.embed import DescriptorRunner, prefetch_batches  # noqa: E402
from detector.sources import open_images  # noqa: E402


def main() -> None:
    """Time each stage per 1,000 images and print the cost model and the projection."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--n-eval", type=int, default=100_000)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--root", type=Path, default=Path("runs/shard-cost"))
    parser.add_argument("--project", type=int, default=400_000_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    workload = build_workload(args.root, 1, args.images, n_eval=50, photos=args.photos)
    runner = DescriptorRunner(resolve_detector("default"), "cpu")
    (shard,) = open_images(str(workload.pretraining), draft_size=runner.input_size).shards()

    start = time.perf_counter()
    batches = list(prefetch_batches(shard, runner.input_size, 64, 0))
    decode = time.perf_counter() - start
    runner.embed_uint8(batches[0][1])  # warm-up
    start = time.perf_counter()
    descriptors = np.concatenate([runner.embed_uint8(batch) for _, batch in batches])
    forward = time.perf_counter() - start
    ids = [i for batch_ids, _ in batches for i in batch_ids]

    rng = np.random.default_rng(0)
    eval_matrix = rng.standard_normal((args.n_eval, descriptors.shape[1]), dtype=np.float32)
    eval_matrix /= np.linalg.norm(eval_matrix, axis=1, keepdims=True)
    index = EvalIndex([EvalSet("eval", [f"e{i}" for i in range(args.n_eval)], eval_matrix)], SearchConfig(top_k=5))
    index.search(ids[:64], descriptors[:64])  # warm-up
    start = time.perf_counter()
    neighbours, matches = index.search(ids, descriptors)
    search = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_parquet_atomic(similarity_as_score(neighbours), Path(folder) / "n.parquet")
        write_parquet_atomic(similarity_as_score(matches), Path(folder) / "m.parquet")
        write = time.perf_counter() - start
    per_1000 = {name: seconds * 1000 / len(ids) for name, seconds in
                (("decode", decode), ("forward", forward), ("search", search), ("write", write))}
    total = sum(per_1000.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    index_mib = eval_matrix.nbytes / 2**20
    print(f"{len(ids)} images ({workload.photos}), default detector at {runner.input_size} px, one thread, "
          f"search against {args.n_eval:,} evaluation descriptors ({descriptors.shape[1]}-d)")
    print("seconds per 1,000 images: " + ", ".join(f"{k} {v:.3f}" for k, v in per_1000.items()) + f"; total {total:.3f}")
    print(f"search / forward = {per_1000['search'] / per_1000['forward']:.2f}; decode share {per_1000['decode'] / total:.0%}")
    print(f"worker memory after one shard: peak RSS {rss:.0f} MiB (evaluation index {index_mib:.0f} MiB of it)")
    for workers in (16, 64, 256, 1024):
        hours = args.project / 1000 * total / workers / 3600
        print(f"  {args.project:,} images on {workers:>4} single-thread CPU workers: {hours:8.1f} h")
    payload = {"images": len(ids), "n_eval": args.n_eval, "dim": int(descriptors.shape[1]), "input_size": runner.input_size,
               "seconds_per_1000": per_1000, "total_per_1000": total, "peak_rss_mib": rss, "index_mib": index_mib,
               "pictures": workload.photos}
    (args.root / "shard_cost.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
