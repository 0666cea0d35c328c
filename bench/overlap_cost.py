"""Cost of the overlap search against the detector's forward pass, and its memory at two scales.

Prints, per streamed pre-training image, the exact search time against N_eval = 10^5 evaluation
descriptors next to the detector's forward time at its input resolution (goal: search <= 5% of the
forward pass), and the peak resident memory of a full streaming run (search + reduce) at two
pre-training sizes 10x apart (goal: flat).

    .venv/bin/python bench/overlap_cost.py [--n-eval 100000] [--sizes 20000 200000]
    .venv/bin/python bench/overlap_cost.py --verification [--photos runs/detector-images/train] [--rate 0.01]

With --verification it measures the second stage instead: per streamed pre-training image, the
cost of verifying the candidates at a candidate rate (the share of streamed images whose global
similarity reaches the floor: second decode at the verification size, features of the image (its
mirror's derived from them, no second SIFT pass), `--pairs-per-candidate` pair checks) against the shipped default detector's bare forward
pass on the same machine (goal <= 10%); and the evaluation-side feature store's bytes per image on
disk (goal <= 50 KB) and the resident memory of reading every image's features back memory-mapped
from stores of 10^3 and 10^4 images (goal: flat).
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


def _bench_images(photos: Path | None, n: int) -> list:
    """JPEG-encoded test images: photographs from a folder when given, else procedural scenes."""
    import io

    from PIL import Image

    images = []
    if photos is not None:
        for path in sorted(photos.glob("*"))[:n]:
            image = Image.open(path).convert("RGB")
            image.thumbnail((512, 512))
            images.append(image)
    if not images:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "audit"))
        from test_overlap_default_detector import scene

        images = [scene(i, size=384) for i in range(n)]
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
    return encoded


def verification_costs(photos: Path | None, n: int, pairs: int) -> dict[str, float]:
    """Seconds per candidate image: decode at the verification size, features + mirror, `pairs` pair checks."""
    from clip_core.data.imageio import decode_image
    from detector.dense_check import dense_check, thumbnail
    from detector.verify import VerifyConfig, extract_with_mirror, verify_pair

    config = VerifyConfig()
    encoded = _bench_images(photos, n)
    start = time.perf_counter()
    decoded = [decode_image(data, config.max_side) for data in encoded]
    decode = (time.perf_counter() - start) / len(decoded)
    start = time.perf_counter()
    features = [extract_with_mirror(im, config) for im in decoded]  # one SIFT pass, the mirror derived
    extract = (time.perf_counter() - start) / len(decoded)
    start = time.perf_counter()
    checks, poor = 0, []
    for i, (query, mirror) in enumerate(features):
        for j in range(1, pairs + 1):
            if verify_pair(query, mirror, features[(i + j) % len(features)][0], config).status == "fallback":
                poor.append((i, (i + j) % len(features)))
            checks += 1
    verify = (time.perf_counter() - start) / checks
    start = time.perf_counter()
    thumbs = [thumbnail(im) for im in decoded]  # the dense check's input, made once per candidate image
    thumb = (time.perf_counter() - start) / len(decoded)
    sample = [(i, (i + 1) % len(thumbs)) for i in range(len(thumbs))]  # dense check cost per pair, on every image
    start = time.perf_counter()
    for i, j in sample:
        dense_check(thumbs[i], thumbs[j])
    dense = (time.perf_counter() - start) / len(sample)
    store_bytes = sum(f.points.nbytes + f.descriptors.nbytes + 8 + 8 for f, _ in features) / len(features)
    keypoints = float(np.mean([len(f) for f, _ in features]))
    return {"decode": decode, "extract_with_mirror": extract, "verify_pair": verify, "array_bytes": store_bytes,
            "keypoints": keypoints, "images": len(decoded), "thumbnail": thumb, "dense_check": dense,
            "dense_share": len(poor) / checks}


def default_forward_seconds(batch: int = 64, repeats: int = 5) -> float:
    """The shipped default detector's bare forward pass per image (uint8 batches at its input size)."""
    from detector.checkpoint import resolve_detector
    from detector.embed import DescriptorRunner

    runner = DescriptorRunner(resolve_detector("default"), "cpu")
    batch_images = np.random.default_rng(0).integers(0, 256, (batch, runner.input_size, runner.input_size, 3), dtype=np.uint8)
    runner.embed_uint8(batch_images)
    start = time.perf_counter()
    for _ in range(repeats):
        runner.embed_uint8(batch_images)
    return (time.perf_counter() - start) / (repeats * batch)


def _store_write_child(folder: str, n: int, keypoints: int) -> None:
    """Write a store of n images with `keypoints` random features each."""
    from detector.feature_store import FeatureStoreWriter
    from detector.verify import LocalFeatures, VerifyConfig

    rng = np.random.default_rng(0)
    writer = FeatureStoreWriter(Path(folder), VerifyConfig())
    for i in range(n):
        writer.add(f"img{i:06d}", LocalFeatures(rng.uniform(0, 256, (keypoints, 2)).astype(np.float32),
                                                rng.integers(0, 256, (keypoints, 128), dtype=np.uint8), 256, 256,
                                                distinctive=keypoints))
    writer.close()


def _store_read_child(folder: str) -> None:
    """Open a store, read every entry back, print bytes per image and the resident memory it took."""
    from detector.feature_store import FeatureStore

    def rss_mib() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    before = rss_mib()
    store = FeatureStore(Path(folder))
    total = 0
    for item in store.ids():
        total += len(store.get(item))
    print(json.dumps({"bytes_per_image": store.bytes_on_disk() / len(store), "rss_growth_mib": rss_mib() - before,
                      "keypoints_read": total}))


def store_memory(n: int, keypoints: int) -> dict:
    """Write a store in one fresh process, read it back in another: bytes per image and reading's resident memory."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as folder:
        write = f"import bench.overlap_cost as b; b._store_write_child({folder!r}, {n}, {keypoints})"
        subprocess.run([sys.executable, "-c", write], check=True, cwd=root, capture_output=True)
        read = f"import bench.overlap_cost as b; b._store_read_child({folder!r})"
        output = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True, cwd=root).stdout
    return json.loads(output.strip().splitlines()[-1])


def verification_main(args: argparse.Namespace) -> None:
    """Print the verification stage's cost per streamed image and the feature store's size and memory."""
    forward = default_forward_seconds()
    costs = verification_costs(args.photos, args.images, args.pairs_per_candidate)
    pair = costs["verify_pair"] + costs["dense_share"] * costs["dense_check"]  # keypoint-poor pairs get the dense check
    per_candidate = costs["decode"] + costs["extract_with_mirror"] + costs["thumbnail"] + args.pairs_per_candidate * pair
    per_streamed = args.rate * per_candidate
    worst = args.rate * (per_candidate + args.pairs_per_candidate * (1.0 - costs["dense_share"]) * costs["dense_check"])
    print(f"torch threads: {torch.get_num_threads()}; images: {costs['images']} "
          f"({'photographs from ' + str(args.photos) if args.photos else 'procedural scenes'}), "
          f"mean keypoints {costs['keypoints']:.0f}")
    print(f"default detector bare forward per image: {forward * 1e3:.2f} ms")
    print(f"per candidate: decode {costs['decode'] * 1e3:.2f} ms, features + mirror {costs['extract_with_mirror'] * 1e3:.2f} ms, "
          f"thumbnail {costs['thumbnail'] * 1e3:.2f} ms, {args.pairs_per_candidate} pair checks x "
          f"({costs['verify_pair'] * 1e3:.2f} ms + {costs['dense_share']:.0%} keypoint-poor x dense check "
          f"{costs['dense_check'] * 1e3:.2f} ms) = {per_candidate * 1e3:.2f} ms")
    print(f"per streamed image at a {args.rate:.1%} candidate rate: {per_streamed * 1e3:.3f} ms = "
          f"{100 * per_streamed / forward:.1f}% of the forward pass (goal <= 10%); if every pair needed the dense check: "
          f"{worst * 1e3:.3f} ms = {100 * worst / forward:.1f}%")
    print(f"break-even candidate rate for 10%: {0.1 * forward / per_candidate:.2%}")
    keypoints = int(round(costs["keypoints"]))
    for n in (1_000, 10_000):
        m = store_memory(n, keypoints)
        print(f"feature store, {n} images x {keypoints} keypoints: {m['bytes_per_image'] / 1e3:.1f} KB/image on disk "
              f"(goal <= 50 KB), anonymous resident memory (RssAnon: what cannot be paged out; the mapped file pages are page cache) taken by opening it and reading every entry: {m['rss_growth_mib']:.1f} MiB")


def main() -> None:
    """Print search vs forward time per image and peak memory at two pre-training sizes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-eval", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--sizes", type=int, nargs=2, default=[20_000, 200_000])
    parser.add_argument("--memory-eval", type=int, default=10_000)
    parser.add_argument("--verification", action="store_true", help="measure the verification stage instead")
    parser.add_argument("--photos", type=Path, default=None, help="with --verification: a folder of photographs")
    parser.add_argument("--images", type=int, default=100, help="with --verification: images timed")
    parser.add_argument("--rate", type=float, default=0.01, help="with --verification: candidate rate")
    parser.add_argument("--pairs-per-candidate", type=int, default=3)
    args = parser.parse_args()
    if args.verification:
        verification_main(args)
        return
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
