"""Cost of the overlap search against the detector's forward pass, and its memory at two scales.

Prints, per streamed pre-training image, the exact search time against N_eval = 10^5 evaluation
descriptors next to the detector's forward time at its input resolution (goal: search <= 5% of the
forward pass), and the peak resident memory of a full streaming run (search + reduce) at two
pre-training sizes 10x apart (goal: flat).

    .venv/bin/python bench/overlap_cost.py [--n-eval 100000] [--sizes 20000 200000]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def search_seconds_per_image(n_eval: int, dim: int, shard: int, repeats: int) -> float:
    """Exact search time per streamed pre-training image."""
    from audit.overlap_search import EvalIndex, EvalSet, SearchConfig

    rng = np.random.default_rng(0)
    index = EvalIndex([EvalSet("eval", [str(i) for i in range(n_eval)], _unit(rng, n_eval, dim))], SearchConfig(top_k=5))
    queries = _unit(rng, shard, dim)
    ids = [f"p{i}" for i in range(shard)]
    index.search(ids, queries)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        index.search(ids, queries)
    return (time.perf_counter() - start) / (repeats * shard)


def forward_seconds_per_image(batch: int, repeats: int) -> tuple[float, int]:
    """The default detector architecture's forward time per image at its input resolution."""
    from detector.config import DetectorConfig
    from detector.model import build_detector

    config = DetectorConfig()
    model = build_detector(config).eval()
    images = torch.randn(batch, 3, config.input_size, config.input_size)
    with torch.inference_mode():
        model(images)
        start = time.perf_counter()
        for _ in range(repeats):
            model(images)
    return (time.perf_counter() - start) / (repeats * batch), config.input_size


def _peak_memory_child(n_eval: int, n_pretraining: int, dim: int, shard: int) -> None:
    """Run a full streaming search in this process and print its peak RSS in MiB."""
    from audit.overlap_pipeline import run_overlap_search
    from audit.overlap_run import PendingShard
    from audit.overlap_search import EvalSet, SearchConfig
    from detector.descriptor_files import DescriptorShard

    rng = np.random.default_rng(1)
    eval_set = EvalSet("eval", [str(i) for i in range(n_eval)], _unit(rng, n_eval, dim))

    def loader(number: int):
        def load() -> DescriptorShard:
            local = np.random.default_rng(number)
            return DescriptorShard(f"s{number}", [f"p{number}_{i}" for i in range(shard)], _unit(local, shard, dim))
        return load

    shards = [PendingShard(f"s{n:05d}", loader(n)) for n in range(n_pretraining // shard)]
    with tempfile.TemporaryDirectory() as out:
        run_overlap_search([eval_set], shards, Path(out), SearchConfig(top_k=5))
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_memory_mib(n_eval: int, n_pretraining: int, dim: int, shard: int) -> float:
    """Peak resident memory of a streaming run, measured in a fresh process."""
    code = f"import bench.overlap_cost as b; b._peak_memory_child({n_eval}, {n_pretraining}, {dim}, {shard})"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout
    return json.loads(output.strip().splitlines()[-1])["peak_rss_mib"]


def main() -> None:
    """Print search vs forward time per image and peak memory at two pre-training sizes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-eval", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--sizes", type=int, nargs=2, default=[20_000, 200_000])
    parser.add_argument("--memory-eval", type=int, default=10_000)
    args = parser.parse_args()
    search = search_seconds_per_image(args.n_eval, args.dim, shard=1024, repeats=3)
    forward, resolution = forward_seconds_per_image(batch=16, repeats=2)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"search per streamed image (N_eval={args.n_eval}, d={args.dim}, exact): {search * 1e3:.3f} ms")
    print(f"detector forward per image (ResNet-50 paper variant, {resolution} px, batch 16): {forward * 1e3:.1f} ms")
    print(f"search / forward: {100 * search / forward:.2f}%  (goal <= 5%)")
    small, large = args.sizes
    memory = {size: peak_memory_mib(args.memory_eval, size, args.dim, shard=2000) for size in (small, large)}
    for size, mib in memory.items():
        print(f"peak RSS, {size} pre-training descriptors vs {args.memory_eval} eval: {mib:.0f} MiB")
    print(f"memory ratio large/small: {memory[large] / memory[small]:.2f}  (goal: flat, ~1.0)")


if __name__ == "__main__":
    main()
