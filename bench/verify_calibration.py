"""Measure and calibrate the local-feature verification stage (detector/verify.py).

Prints and writes (``--out``, JSON) the speed of `extract_features` and `verify_pair`, the largest
inlier counts on unrelated pairs before (naive SIFT + ratio test + RANSAC homography) and after the
degeneracy checks, the verification rate of copies per transform family, and the synthetic world's
figures. Photographs: ``runs/detector-images/calibration`` and ``train`` when present (never
``benchmark``), else the sample photographs installed with scikit-learn and matplotlib, with tiles
of them as extra (hard, same-photo) negatives.

    .venv/bin/python bench/verify_calibration.py [--out runs/verify_calibration.json] [--photos N]
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from clip_core.atomic_files import atomic_write_text
from detector.augment import FAMILIES, random_tiles
from detector.hard_negatives import HARD_NEGATIVES, bordered, sample_photographs
from detector.verify import DEFAULT_SCORE_RULE, VerifyConfig, extract_features, extract_with_mirror, verify_pair

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def load_photos(limit: int) -> dict[str, Image.Image]:
    """Calibration photographs (never the benchmark split), else sample photographs and their tiles."""
    root = Path("runs/detector-images")
    files = [p for split in ("calibration", "train") for p in sorted((root / split).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if files:
        return {str(p): Image.open(p).convert("RGB") for p in files[:limit]}
    photos = sample_photographs()
    rng = np.random.default_rng(0)
    for name, photo in list(photos.items()):
        for i, tile in enumerate(random_tiles(photo, rng, 4, min_side=0.45, max_side=0.5)):
            photos[f"{name}_tile{i}"] = tile
    return photos


def naive_inliers(a: Image.Image, b: Image.Image, max_side: int) -> int:
    """What a textbook pipeline counts: all SIFT keypoints, one-way ratio test 0.8, RANSAC homography inliers."""
    def gray(image: Image.Image) -> np.ndarray:
        f = max_side / max(image.size)
        return np.asarray(image.convert("L").resize((max(1, round(image.width * f)), max(1, round(image.height * f)))))

    sift = cv2.SIFT_create()
    ka, da = sift.detectAndCompute(gray(a), None)
    kb, db = sift.detectAndCompute(gray(b), None)
    if da is None or db is None or len(ka) < 3 or len(kb) < 3:
        return 0
    good = [m[0] for m in cv2.BFMatcher().knnMatch(da, db, k=2) if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < 4:
        return 0
    src = np.float32([kb[m.trainIdx].pt for m in good])
    dst = np.float32([ka[m.queryIdx].pt for m in good])
    _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
    return 0 if mask is None else int(mask.sum())


def speed(photos: list[Image.Image], config: VerifyConfig) -> dict:
    """Milliseconds per extract_features, per extract_with_mirror and per verify_pair (one cv2 thread)."""
    images = [p.copy() for p in photos]
    start = time.perf_counter()
    features = [extract_features(p, config) for p in images]
    extract_ms = (time.perf_counter() - start) * 1000 / len(images)
    start = time.perf_counter()
    both = [extract_with_mirror(p, config) for p in images]
    both_ms = (time.perf_counter() - start) * 1000 / len(images)
    pairs = list(itertools.product(range(len(images)), repeat=2))
    start = time.perf_counter()
    for i, j in pairs:
        verify_pair(both[i][0], both[i][1], features[j], config)
    verify_ms = (time.perf_counter() - start) * 1000 / len(pairs)
    return {"extract_ms": extract_ms, "extract_with_mirror_ms": both_ms, "verify_pair_ms": verify_ms}


def positives(photos: dict[str, Image.Image], config: VerifyConfig, copies: int) -> dict:
    """Per transform family: share of copies verified, fallen back, rejected; median inliers."""
    references = {name: extract_features(p, config) for name, p in photos.items()}
    out = {}
    for family in tqdm(FAMILIES, desc="copies per family"):
        rows = []
        for name, photo in photos.items():
            for k in range(copies):
                query = FAMILIES[family](photo, np.random.default_rng(zlib.crc32(f"{family}/{name}".encode()) + k))
                rows.append(verify_pair(*extract_with_mirror(query, config), references[name], config))
        out[family] = {s: sum(r.status == s for r in rows) / len(rows) for s in ("verified", "fallback", "rejected")}
        out[family]["median_inliers"] = float(np.median([r.inliers for r in rows]))
    return out


def negatives(photos: dict[str, Image.Image], config: VerifyConfig) -> dict:
    """Unrelated pairs: largest naive inlier count, largest raw MAGSAC count, largest surviving count, how many verified."""
    kinds: dict[str, list[tuple[Image.Image, Image.Image]]] = {
        kind: [(gen(2 * s, (320, 320)), gen(2 * s + 1, (320, 320))) for s in range(8)] for kind, gen in HARD_NEGATIVES.items()}
    names = list(photos)
    base = lambda n: n.split("_tile")[0]  # noqa: E731 - a tile of a photo is a true crop of that photo
    kinds["photos"] = [(photos[a], photos[b]) for a, b in itertools.combinations(names, 2)
                       if base(a) != base(b) or ("_tile" in a and "_tile" in b)]
    kinds["bordered photos"] = [(bordered(photos[a], 7), bordered(photos[b], 7)) for a, b in itertools.combinations(names[:6], 2)]
    out = {}
    for kind, pairs in tqdm(kinds.items(), desc="unrelated pairs"):
        rows = [verify_pair(*extract_with_mirror(a, config), extract_features(b, config), config) for a, b in pairs]
        out[kind] = {"pairs": len(pairs), "naive_max": max(naive_inliers(a, b, 512) for a, b in pairs[:8]),
                     "raw_max": max(r.raw_inliers for r in rows), "surviving_max": max(r.inliers for r in rows),
                     "verified": sum(r.verified for r in rows),
                     "max_score_at_g_0.99": max(DEFAULT_SCORE_RULE.score(0.99, r) for r in rows)}
    return out


def synthetic_world(config: VerifyConfig, n: int) -> dict:
    """The demo's synthetic images: different images of one task, and plant_augment copies."""
    from audit.demo import plant_augment
    from clip_core.data import open_source

    out = {}
    for task in ("counts", "colors"):
        images = [e.image for e in open_source(f"synthetic:{task}?n={n}&seed=0&size=64")]
        features = [extract_with_mirror(im, config) for im in images]
        rows = [verify_pair(*features[i], features[j][0], config) for i, j in itertools.permutations(range(n), 2)]
        rng = random.Random(0)
        copies = [verify_pair(*extract_with_mirror(plant_augment(im, rng), config), f[0], config) for im, f in zip(images, features)]
        out[task] = {"different_pairs": len(rows), "different_verified": sum(r.verified for r in rows),
                     "different_max_inliers": max(r.inliers for r in rows),
                     **{f"copies_{s}": sum(r.status == s for r in copies) for s in ("verified", "fallback", "rejected")}}
    return out


def main() -> None:
    """Run every measurement, print a summary, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/verify_calibration.json"))
    parser.add_argument("--photos", type=int, default=40, help="at most this many calibration photographs")
    parser.add_argument("--copies", type=int, default=2, help="copies per photograph and family")
    parser.add_argument("--synthetic", type=int, default=60, help="synthetic images per task")
    args = parser.parse_args()
    config = VerifyConfig()
    photos = load_photos(args.photos)
    result = {"config": config.to_dict(), "photos": len(photos), "speed": speed(list(photos.values())[:12], config),
              "negatives": negatives(photos, config), "positives": positives(photos, config, args.copies),
              "synthetic": synthetic_world(config, args.synthetic)}
    atomic_write_text(args.out, json.dumps(result, indent=2))
    s = result["speed"]
    print(f"speed: extract {s['extract_ms']:.1f} ms, extract+mirror {s['extract_with_mirror_ms']:.1f} ms, verify_pair {s['verify_pair_ms']:.2f} ms")
    for kind, row in result["negatives"].items():
        print(f"unrelated {kind:16s} pairs {row['pairs']:4d}  naive max {row['naive_max']:3d}  raw MAGSAC max {row['raw_max']:3d}  "
              f"surviving max {row['surviving_max']:3d}  verified {row['verified']}")
    for family, row in result["positives"].items():
        print(f"copies {family:10s} verified {row['verified']:.2f} fallback {row['fallback']:.2f} rejected {row['rejected']:.2f}  "
              f"median inliers {row['median_inliers']:.0f}")
    for task, row in result["synthetic"].items():
        print(f"synthetic {task}: {row}")
    verified_negatives = sum(r["verified"] for r in result["negatives"].values())
    rate = np.mean([r["verified"] for r in result["positives"].values()])
    print(f"summary: {len(photos)} photos, {verified_negatives} unrelated pairs verified, copies verified {rate:.2f} "
          f"on average over families; written to {args.out}")


if __name__ == "__main__":
    main()
