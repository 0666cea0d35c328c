"""Derived mirror features (`detector.verify.mirrored`) against a second SIFT pass on the mirror image.

On real photographs: how many derived keypoints have a re-extracted keypoint within 1.5 px whose
descriptor is their nearest neighbour, and, on mirrored and crop+mirror copies verified against the
originals, the verified rate and inliers with the query's mirror features derived or re-extracted.

    .venv/bin/python bench/mirror_features.py --photos runs/detector-images/benchmark --images 50 \
        --out runs/mirror_features.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from clip_core.atomic_files import atomic_write_text
from detector.verify import LocalFeatures, VerifyConfig, extract_features, mirror_features, mirrored, verify_pair


def keypoint_agreement(derived: LocalFeatures, extracted: LocalFeatures, radius: float = 1.5) -> float:
    """Share of derived keypoints with an extracted keypoint within `radius` px whose descriptor is their nearest one."""
    if len(derived) == 0:
        return float("nan")
    if len(extracted) == 0:
        return 0.0
    distance = np.linalg.norm(derived.points[:, None, :] - extracted.points[None, :, :], axis=2)
    a = derived.descriptors.astype(np.float32)
    b = extracted.descriptors.astype(np.float32)
    nearest = np.argmin((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, axis=1)
    return float((distance[np.arange(len(derived)), nearest] <= radius).mean())


def crop_mirror(image: Image.Image) -> Image.Image:
    """The central 60% of the area, mirrored."""
    w, h = image.size
    cw, ch = int(w * 0.775), int(h * 0.775)
    x0, y0 = (w - cw) // 3, (h - ch) // 2
    return ImageOps.mirror(image.crop((x0, y0, x0 + cw, y0 + ch)))


def main() -> None:
    """Print and write the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=Path("runs/detector-images/benchmark"))
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args()
    paths = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[: args.images]
    if not paths:
        sys.exit(f"{args.photos}: no .png/.jpg photographs found")
    config = VerifyConfig()
    agreement, derive_s, extract_s = [], 0.0, 0.0
    rows = {kind: {"derived": [], "re-extracted": []} for kind in ("mirror", "crop+mirror")}
    unreadable = 0
    for path in tqdm(paths, desc="photographs", unit="image"):
        try:
            photo = Image.open(path).convert("RGB")
        except OSError:
            unreadable += 1
            continue
        reference = extract_features(photo, config)
        agreement.append(keypoint_agreement(mirrored(reference), mirror_features(photo, config)))
        for kind, query in (("mirror", ImageOps.mirror(photo)), ("crop+mirror", crop_mirror(photo))):
            start = time.perf_counter()
            features = extract_features(query, config)
            derived = mirrored(features)
            derive_s += time.perf_counter() - start
            start = time.perf_counter()
            again = (extract_features(query, config), mirror_features(query, config))
            extract_s += time.perf_counter() - start
            for way, pair in (("derived", (features, derived)), ("re-extracted", again)):
                result = verify_pair(pair[0], pair[1], reference, config)
                rows[kind][way].append((result.verified and result.mirrored, result.inliers, result.status))
    n = len(agreement)
    if n == 0:
        sys.exit(f"{args.photos}: none of {len(paths)} photographs could be read")
    summary: dict = {"photographs": n, "unreadable": unreadable,
                     "keypoint_agreement_median": float(np.nanmedian(agreement)),
                     "keypoint_agreement_min": float(np.nanmin(agreement)),
                     "ms_per_query_derived": 1e3 * derive_s / (2 * n), "ms_per_query_re_extracted": 1e3 * extract_s / (2 * n)}
    for kind, ways in rows.items():
        for way, results in ways.items():
            summary[f"{kind}/{way}"] = {"verified_mirrored_rate": float(np.mean([r[0] for r in results])),
                                        "mean_inliers": float(np.mean([r[1] for r in results])),
                                        "median_inliers": float(np.median([r[1] for r in results])),
                                        "fallback": sum(r[2] == "fallback" for r in results)}
    if summary["keypoint_agreement_median"] < 0.8:
        print(f"WARNING: derived mirror keypoints agree with re-extracted ones for only "
              f"{summary['keypoint_agreement_median']:.0%} (median): the permutation is likely wrong", file=sys.stderr)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(f"{n} photographs: derived mirror {summary['ms_per_query_derived']:.1f} ms vs re-extracted "
          f"{summary['ms_per_query_re_extracted']:.1f} ms per query; verified (mirror) "
          f"{summary['mirror/derived']['verified_mirrored_rate']:.2f} vs {summary['mirror/re-extracted']['verified_mirrored_rate']:.2f}")


if __name__ == "__main__":
    main()
