"""Build the copy-detection benchmark from the real photographs available offline.

Photos: scikit-learn's sample images (china.jpg, flower.jpg), matplotlib's grace_hopper.jpg and
any image files under --photos DIR. They are cut into non-overlapping tiles (distinct content);
a share of tiles is darkened or flattened; each reference sits among --distractors other tiles;
every reference gets one query per transform family (resize, jpeg, crop, flip, rotation, colour,
grayscale, blur, text, border, aspect, combo3).

    .venv/bin/python scripts/build_copy_benchmark.py --out runs/copy-benchmark [--tile 64] [--photos DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.copy_benchmark import CopyBenchmarkConfig, build_copy_benchmark, photo_tiles  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def bundled_photos() -> list[Image.Image]:
    """The photographs shipped inside installed Python packages (no download)."""
    photos = []
    try:
        from sklearn.datasets import load_sample_images

        photos += [Image.fromarray(a) for a in load_sample_images().images]
    except ImportError:
        pass
    try:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            photos.append(Image.open(fh).convert("RGB"))
    except (ImportError, OSError, ValueError):
        pass
    return photos


def main() -> None:
    """Parse arguments, build, print the summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--photos", type=Path, default=None, help="extra folder of photographs")
    ap.add_argument("--tile", type=int, default=64, help="tile side in pixels")
    ap.add_argument("--references", type=int, default=16)
    ap.add_argument("--distractors", type=int, default=10, help="distractors per reference")
    ap.add_argument("--hard-fraction", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    photos = bundled_photos()
    if args.photos is not None:
        photos += [Image.open(p).convert("RGB") for p in sorted(args.photos.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    tiles = photo_tiles(photos, args.tile)
    config = CopyBenchmarkConfig(n_references=args.references, distractors_per_reference=args.distractors,
                                 hard_fraction=args.hard_fraction, seed=args.seed)
    summary = build_copy_benchmark(tiles, args.out, config)
    summary.update(photos=len(photos), tiles=len(tiles), tile=args.tile)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
