"""Pack the detector's training photographs small enough to travel to a GPU machine (runs/ is git-ignored).

The device tool carries at most 64 MiB with the working tree, and nothing can be fetched there, so
the training pool of `scripts/fetch_detector_images.py` is re-encoded as WebP, longest side at most
`--max-side`, in a seeded order until `--budget-mib` is spent, into WebDataset shards
(`pack-00000.tar`, ...; one member `<photo>.webp` per sample). `pack.json` records what was packed.

    .venv/bin/python scripts/pack_detector_images.py --images runs/detector-images/train \
        --out runs/detector-pack/train --max-side 288 --quality 80 --budget-mib 30
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clip_core.atomic_files import atomic_write_text  # noqa: E402
from clip_core.data.imageio import is_image_file, load_image_file  # noqa: E402


def encoded(path: Path, max_side: int, quality: int) -> bytes:
    """The photograph shrunk to `max_side` (never enlarged) as WebP bytes."""
    img = load_image_file(path)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=quality, method=4)
    return buf.getvalue()


def main() -> None:
    """Write the pack and print a one-line summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, required=True, help="folder of training photographs")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-side", type=int, default=288)
    ap.add_argument("--quality", type=int, default=80)
    ap.add_argument("--budget-mib", type=float, default=30.0)
    ap.add_argument("--per-shard", type=int, default=250,
                    help="samples per tar shard (more shards than training workers: each worker reads its own)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    files = sorted(p for p in args.images.iterdir() if is_image_file(p.name)) if args.images.is_dir() else []
    if not files:
        raise SystemExit(f"--images {args.images}: no image files")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("pack-*.tar"):
        old.unlink()
    order = np.random.default_rng(args.seed).permutation(len(files))
    budget, used, packed = int(args.budget_mib * 2**20), 0, []
    tar = None
    try:
        for i in tqdm(order, desc="pack", unit="img"):
            data = encoded(files[i], args.max_side, args.quality)
            if used + len(data) + 1024 > budget:  # a tar member costs a header and padding besides its bytes
                break
            if len(packed) % args.per_shard == 0:
                if tar is not None:
                    tar.close()
                tar = tarfile.open(args.out / f"pack-{len(packed) // args.per_shard:05d}.tar", "w")
            info = tarfile.TarInfo(f"{files[i].stem}.webp")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            used += len(data) + 1024
            packed.append(files[i].name)
    finally:
        if tar is not None:
            tar.close()
    summary = {"source": str(args.images), "photos": len(packed), "of": len(files), "bytes": used,
               "max_side": args.max_side, "quality": args.quality, "seed": args.seed, "files": sorted(packed)}
    atomic_write_text(args.out.parent / "pack.json", json.dumps(summary, indent=1))
    size = sum(p.stat().st_size for p in args.out.glob("pack-*.tar"))
    print(f"packed {len(packed)} of {len(files)} photographs into {args.out} ({size / 2**20:.1f} MiB of tar shards)")


if __name__ == "__main__":
    main()
