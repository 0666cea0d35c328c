"""Collect the detector's training images from Debian packages, offline-reproducibly, deduplicated.

Downloads (apt-get download, no install) the packages of ../shared/spec/offline-data.md that hold
photographs and pictures, unpacks them with dpkg-deb -x, keeps every decodable image whose short
side is at least --min-side pixels, drops exact and perceptual (pHash distance <= 2) duplicates, and
writes them as PNG into --out (unlabelled folder source). Needs network only for apt-get; with
--debs DIR it uses .deb files fetched earlier. The copy-detection benchmark's photographs
(scikit-learn and matplotlib samples) are never part of this set.

    .venv/bin/python scripts/fetch_detector_images.py --out runs/detector-train [--debs runs/debs]
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.hash_baselines import hamming_distances, hash_images  # noqa: E402

PACKAGES = (
    "scratch", "tuxpaint-stamps-default", "openclipart-png", "tuxpaint-data", "tuxtype-data", "pysiogame",
    "kgeography-data", "lomiri-wallpapers", "ukui-wallpapers", "xfdesktop4-data", "lxde-common",
    "palapeli-data", "visp-images-data", "labelme-examples", "libjs-jquery-backstretch",
)
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm"}


def download(packages: tuple[str, ...], debs: Path) -> None:
    """apt-get download each package into `debs` (missing packages are reported, not fatal)."""
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        if any(debs.glob(f"{pkg}_*.deb")):
            continue
        done = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"skipped package {pkg}: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)


def candidate_files(debs: Path, work: Path) -> list[Path]:
    """Unpack every .deb and list its image files in a stable order."""
    files: list[Path] = []
    for deb in sorted(debs.glob("*.deb")):
        target = work / deb.stem
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        files += sorted(p for p in target.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    return files


def collect(files: list[Path], out: Path, min_side: int, max_side: int) -> dict[str, int]:
    """Decode, size-filter, deduplicate and write the images; return counts."""
    out.mkdir(parents=True, exist_ok=True)
    seen_md5: set[str] = set()
    kept_hashes: list[np.ndarray] = []
    counts = {"files": len(files), "unreadable": 0, "small": 0, "duplicates": 0, "kept": 0}
    for path in files:
        try:
            with Image.open(path) as im:
                im.load()
                img = im.convert("RGBA")
        except Exception:  # noqa: BLE001 - any decoder failure just skips the file
            counts["unreadable"] += 1
            continue
        canvas = Image.new("RGB", img.size, (255, 255, 255))
        canvas.paste(img, mask=img.getchannel("A"))
        if min(canvas.size) < min_side:
            counts["small"] += 1
            continue
        if max(canvas.size) > max_side:
            canvas.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        digest = hashlib.md5(canvas.tobytes()).hexdigest()
        h = hash_images([canvas], "phash")
        if digest in seen_md5 or (kept_hashes and hamming_distances(h, np.concatenate(kept_hashes)).min() <= 2):
            counts["duplicates"] += 1
            continue
        seen_md5.add(digest)
        kept_hashes.append(h)
        canvas.save(out / f"img{counts['kept']:06d}.png")
        counts["kept"] += 1
    return counts


def main() -> None:
    """Download (unless --debs holds them), unpack, filter, deduplicate, write."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--debs", type=Path, default=Path("runs/debs"))
    ap.add_argument("--no-download", action="store_true", help="use only the .deb files already in --debs")
    ap.add_argument("--min-side", type=int, default=64)
    ap.add_argument("--max-side", type=int, default=512)
    args = ap.parse_args()
    if not args.no_download:
        download(PACKAGES, args.debs)
    with tempfile.TemporaryDirectory() as tmp:
        counts = collect(candidate_files(args.debs, Path(tmp)), args.out, args.min_side, args.max_side)
    print(counts)


if __name__ == "__main__":
    main()
