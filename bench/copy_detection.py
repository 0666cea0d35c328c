"""Copy-detection benchmark: µAP overall and per transform family, detector against the imagehash baselines.

Builds the benchmark of scripts/build_copy_benchmark.py (real photographs of the benchmark pool
runs/detector-images/benchmark written by scripts/fetch_detector_images.py, dark and low-texture
images, 10 distractors per reference, 12 transform families) unless --benchmark DIR is given, then
scores every method in the same run and prints one table.

    .venv/bin/python scripts/fetch_detector_images.py --out runs/detector-images
    .venv/bin/python scripts/build_copy_benchmark.py --photos runs/detector-images/benchmark --out runs/copy-benchmark
    .venv/bin/python bench/copy_detection.py --benchmark runs/copy-benchmark [--method default] [--method PATH] [--verify]

With --verify, each detector method also gets a two-stage column ("METHOD+verify": its top
candidates verified with local features, detector/match.py), from the same descriptors, and, unless
--local-candidates 0, a column with local-descriptor candidates added ("METHOD+verify+local", the
default of `detector eval --verify` and `detector match`; detector/local_candidates.py).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.checkpoint import DEFAULT_WEIGHTS  # noqa: E402
from detector.evaluate import evaluate_method  # noqa: E402
from detector.hash_baselines import HASH_METHODS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Build (or reuse) the benchmark, evaluate every method, print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", type=Path, default=None, help="an existing benchmark folder")
    ap.add_argument("--method", action="append", default=[], help="detector methods to compare (default, PATH, sscd:PATH)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--verify", action="store_true", help="also the two-stage score of each detector method")
    ap.add_argument("--candidates", type=int, default=20, help="with --verify: candidates verified per query")
    ap.add_argument("--local-candidates", type=int, default=5,
                    help="with --verify: extra candidates per query by local-descriptor votes (0: off; the peer column)")
    args = ap.parse_args()
    methods = list(HASH_METHODS)
    extra = args.method or (["default"] if DEFAULT_WEIGHTS.is_file() else [])
    methods += extra
    with tempfile.TemporaryDirectory() as tmp:
        bench = args.benchmark
        if bench is None:
            bench = Path(tmp) / "copy-benchmark"
            subprocess.run([sys.executable, str(ROOT / "scripts" / "build_copy_benchmark.py"), "--out", str(bench)],
                           check=True, stdout=subprocess.DEVNULL)
        refs, queries, truth = str(bench / "references"), str(bench / "queries"), bench / "ground_truth.csv"
        reports = {m: evaluate_method(m, refs, queries, truth, device=args.device) for m in HASH_METHODS}
        for m in extra:
            if args.verify:
                from detector.evaluate_two_stage import evaluate_two_stage
                from detector.local_candidates import LocalCandidateConfig
                from detector.match import TwoStageConfig

                plain = TwoStageConfig(top_k=args.candidates)
                reports[m], reports[f"{m}+verify"] = evaluate_two_stage(
                    m, refs, queries, truth, device=args.device, config=plain, progress=True)
                if args.local_candidates > 0:
                    local = TwoStageConfig(top_k=args.candidates, local=LocalCandidateConfig(per_query=args.local_candidates))
                    reports[f"{m}+verify+local"] = evaluate_two_stage(
                        m, refs, queries, truth, device=args.device, config=local, progress=True)[1]
            else:
                reports[m] = evaluate_method(m, refs, queries, truth, device=args.device)
    methods = list(reports)
    extra = [m for m in methods if m not in HASH_METHODS]
    first = next(iter(reports.values()))
    print(f"copy-detection benchmark: {first.n_queries} queries, {first.n_references} references (with distractors)")
    families = list(first.families)
    header = f"{'':<12}" + "".join(f"{m[-12:]:>13}" for m in methods)
    print(header)
    print(f"{'µAP all':<12}" + "".join(f"{reports[m].overall.micro_ap:13.4f}" for m in methods))
    print(f"{'R@P90 all':<12}" + "".join(f"{reports[m].overall.recall_at_p90:13.4f}" for m in methods))
    for fam in families:
        print(f"{fam:<12}" + "".join(f"{reports[m].families[fam].micro_ap:13.4f}" for m in methods))
    best_hash = max(HASH_METHODS, key=lambda m: reports[m].overall.micro_ap)
    print(f"best imagehash method overall: {best_hash} (µAP {reports[best_hash].overall.micro_ap:.4f})")
    for m in extra:
        wins = [f for f in families
                if reports[m].families[f].micro_ap > max(reports[h].families[f].micro_ap for h in HASH_METHODS)]
        print(f"{m}: µAP {reports[m].overall.micro_ap:.4f}; beats every hash on {len(wins)}/{len(families)} families")
    if not extra:
        print("no detector compared: detector/weights/default.pt is absent (pass --method PATH)")


if __name__ == "__main__":
    main()
