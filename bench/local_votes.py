"""Local-descriptor vote index: exact search against the inverted file, build and query time, agreement.

Builds the references' feature store from an image folder (or reads one), indexes it once exactly
(faiss IndexFlatL2) and once as `LocalVoteIndex` builds it above `exact_below` (IVF, 8-bit
components), and votes for the first --queries images of a query folder with each: milliseconds per
query and how often the best-voted reference agrees (detector/local_candidates.py).

    OMP_NUM_THREADS=1 .venv/bin/python bench/local_votes.py --references runs/copy-benchmark-v2/references \\
        --queries runs/copy-benchmark-v2/queries --queries-limit 80
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path

import numpy as np

from detector.feature_store import build_feature_store
from detector.local_candidates import LocalCandidateConfig, LocalVoteIndex
from detector.match_run import iter_images
from detector.verify import VerifyConfig, extract_with_mirror


def best(votes: dict[str, int]) -> str | None:
    """The reference with the most votes (None when none got any)."""
    return max(sorted(votes), key=votes.get, default=None)


def main() -> None:
    """Time and compare the exact and the IVF vote index on one reference folder."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--references", required=True, help="reference images (any source)")
    ap.add_argument("--queries", required=True, help="query images (any source)")
    ap.add_argument("--queries-limit", type=int, default=80)
    ap.add_argument("--probes", type=int, nargs="+", default=[16, 32])
    args = ap.parse_args()
    config = VerifyConfig()
    with tempfile.TemporaryDirectory(prefix="local-votes-") as scratch:
        store = build_feature_store(iter_images(args.references, config.max_side), Path(scratch) / "features", config,
                                    progress=False)
        references = [(r, store.get(r)) for r in store.ids()]
        queries = [extract_with_mirror(image, config)
                   for _, image in islice(iter_images(args.queries, config.max_side), args.queries_limit)]
        n = sum(len(f) for _, f in references if f is not None)
        print(f"{len(references)} references, {n} descriptors; {len(queries)} queries")
        start = time.perf_counter()
        exact = LocalVoteIndex(references, LocalCandidateConfig(exact_below=n + 1))
        built = time.perf_counter() - start
        start = time.perf_counter()
        truth = [exact.votes(q) for q in queries]
        per_query = (time.perf_counter() - start) / max(len(queries), 1)
        print(f"exact (IndexFlatL2): build {built:.1f} s, {per_query * 1000:.0f} ms per query")
        for probes in args.probes:
            start = time.perf_counter()
            ivf = LocalVoteIndex(references, replace(LocalCandidateConfig(), exact_below=min(n - 1, 20_000), probes=probes))
            built = time.perf_counter() - start
            start = time.perf_counter()
            votes = [ivf.votes(q) for q in queries]
            per_query = (time.perf_counter() - start) / max(len(queries), 1)
            agree = np.mean([best(a) == best(b) for a, b in zip(votes, truth)])
            kept = np.mean([sum(min(a.get(k, 0), v) for k, v in b.items()) / max(sum(b.values()), 1) for a, b in zip(votes, truth)])
            print(f"{type(ivf.index).__name__} probes {probes}: build {built:.1f} s, {per_query * 1000:.0f} ms per query, "
                  f"best-voted reference agrees {agree:.3f}, exact votes kept {kept:.3f}")


if __name__ == "__main__":
    main()
