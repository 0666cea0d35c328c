"""Build a copy-detection benchmark (or the held-out calibration set) from a pool of real photographs.

The pool is a folder written by scripts/fetch_detector_images.py: `OUT/benchmark` for the
benchmark, `OUT/calibration` for calibrating the default threshold (disjoint photographs, and
never part of the training pool). Each photograph is scaled to at most --photo-side pixels and cut
into non-overlapping --tile x --tile tiles (distinct content, so no hidden copies); nearly blank
tiles are dropped. A share of the tiles is darkened or flattened to low contrast and texture; each
reference sits among --distractors other tiles (from the same photographs, so neighbours of similar
content), and every reference gets one query per transform family (resize, jpeg, crop, flip,
rotation, colour, grayscale, blur, text, border, aspect, combo3 = three families in sequence).

With --whole-photos N the benchmark also holds whole photographs (scaled to --whole-side): near-
duplicate groups of the pool are first reduced to one photograph each (pHash distance <=
--group-distance; wallpaper packages ship one picture at several crops), N of them are references
and --whole-distractors times as many their distractors (whole photographs among whole
photographs); the tiles are cut only from the remaining photographs, so no tile is a hidden crop of
a whole photograph in the benchmark.

    .venv/bin/python scripts/build_copy_benchmark.py --photos runs/detector-images/benchmark --out runs/copy-benchmark-v2 --whole-photos 6

    .venv/bin/python scripts/build_copy_benchmark.py --photos runs/detector-images/benchmark --out runs/copy-benchmark
    .venv/bin/python scripts/build_copy_benchmark.py --photos runs/detector-images/calibration --out runs/calibration --seed 1
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.copy_benchmark import CopyBenchmarkConfig, build_mixed_benchmark, distinct_photos, photo_tiles  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
DEFAULT_POOL = Path("runs/detector-images/benchmark")


def load_photos(folder: Path, photo_side: int) -> list[Image.Image]:
    """Every photograph of the pool, scaled down to at most `photo_side` pixels on its long side."""
    if not folder.is_dir():
        raise FileNotFoundError(f"--photos {folder}: no such folder (build it with scripts/fetch_detector_images.py)")
    photos = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        img = Image.open(path).convert("RGB")
        img.thumbnail((photo_side, photo_side), Image.Resampling.LANCZOS)
        photos.append(img)
    if not photos:
        raise ValueError(f"--photos {folder}: no images found")
    return photos


def textured(tiles: list[Image.Image], min_std: float) -> list[Image.Image]:
    """Drop nearly blank tiles (sky, walls): two of them are indistinguishable, so not a copy question."""
    return [t for t in tiles if float(np.asarray(t.convert("L"), dtype=np.float32).std()) >= min_std]


def main() -> None:
    """Parse arguments, build, print the summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--photos", type=Path, default=DEFAULT_POOL, help="folder of photographs (the pool)")
    ap.add_argument("--photo-side", type=int, default=448, help="long side the photographs are scaled to")
    ap.add_argument("--tile", type=int, default=112, help="tile side in pixels")
    ap.add_argument("--min-std", type=float, default=6.0, help="drop tiles whose gray-level std is below this")
    ap.add_argument("--references", type=int, default=0, help="number of references (0: as many as the tiles allow)")
    ap.add_argument("--distractors", type=int, default=10, help="distractors per reference")
    ap.add_argument("--hard-fraction", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--whole-photos", type=int, default=0, help="whole-photograph references (0: tiles only)")
    ap.add_argument("--whole-side", type=int, default=320, help="long side of the whole photographs")
    ap.add_argument("--whole-distractors", type=int, default=6, help="whole-photograph distractors per whole reference")
    ap.add_argument("--group-distance", type=int, default=12, help="pHash distance within which photos are one group")
    args = ap.parse_args()
    photos = load_photos(args.photos, args.photo_side)
    parts = []
    summary_extra = {}
    if args.whole_photos:
        photos = distinct_photos(photos, args.group_distance)
        need = args.whole_photos * (1 + args.whole_distractors)
        if need >= len(photos):
            raise SystemExit(f"--whole-photos {args.whole_photos} x (1 + {args.whole_distractors}) needs more than the "
                             f"{len(photos)} distinct photographs")
        order = np.random.default_rng(args.seed + 7).permutation(len(photos))
        whole = [photos[int(i)].copy() for i in order[:need]]
        for p in whole:
            p.thumbnail((args.whole_side, args.whole_side), Image.Resampling.LANCZOS)
        photos = [photos[int(i)] for i in order[need:]]  # tiles come only from the other photographs
        parts.append(("p", whole, CopyBenchmarkConfig(n_references=args.whole_photos,
                                                      distractors_per_reference=args.whole_distractors,
                                                      hard_fraction=args.hard_fraction, seed=args.seed)))
        summary_extra.update(whole_photo_pool=need)
    tiles = textured(photo_tiles(photos, args.tile), args.min_std)
    n_refs = args.references or len(tiles) // (1 + args.distractors)
    config = CopyBenchmarkConfig(n_references=n_refs, distractors_per_reference=args.distractors,
                                 hard_fraction=args.hard_fraction, seed=args.seed)
    parts.insert(0, ("", tiles, config))
    summary = build_mixed_benchmark(parts, args.out, args.seed)
    summary.update(photos=len(photos), tiles=len(tiles), tile=args.tile, pool=str(args.photos), **summary_extra)
    (args.out / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
