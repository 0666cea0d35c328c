"""Descriptor pipeline throughput (image files -> descriptors.npy) against the bare forward pass.

Both run the same detector at the same resolution and batch size on this machine; the pipeline
includes reading and decoding the files, resizing, normalising, the forward pass and writing the
output. The issue's goal is ratio >= 0.85.

    .venv/bin/python bench/embed_throughput.py [--trunk resnet50] [--size 224] [--batch 32] [--images 96]
        [--detector default] [--photos DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.config import TRUNKS, DetectorConfig  # noqa: E402
from detector.embed import DescriptorRunner, EmbedConfig, embed_source  # noqa: E402
from detector.model import build_detector  # noqa: E402


def write_photos(folder: Path, n: int, side: int, seed: int = 0) -> None:
    """Write n textured JPEG files (about side x 0.75 side pixels) to decode."""
    rng = np.random.default_rng(seed)
    h, w = int(side * 0.75), side
    yy, xx = np.mgrid[0:h, 0:w] / side
    for i in range(n):
        img = np.zeros((h, w, 3))
        for c in range(3):
            f = rng.uniform(2, 20, 2)
            img[..., c] = 0.5 + 0.25 * np.sin(f[0] * xx + rng.uniform(0, 6)) * np.cos(f[1] * yy)
        img += rng.normal(0, 0.08, img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)


def copy_photos(folder: Path, source: Path, n: int, side: int) -> None:
    """Write n JPEG files (quality 90, `side` px wide) re-encoded from the photographs in `source`, cycled."""
    from clip_core.data.imageio import is_image_file, load_image_file

    files = sorted(p for p in source.iterdir() if is_image_file(p.name))
    if not files:
        raise SystemExit(f"--photos {source}: no image files")
    for i in range(n):
        img = load_image_file(files[i % len(files)])
        img = img.resize((side, max(1, round(img.height * side / img.width))), Image.Resampling.LANCZOS)
        img.save(folder / f"{i:05d}.jpg", quality=90)


def bare_forward(runner: DescriptorRunner, n: int, batch: int) -> float:
    """Images per second of the forward pass alone on ready uint8 batches."""
    x = torch.randint(0, 256, (batch, runner.input_size, runner.input_size, 3), dtype=torch.uint8)
    runner.embed_uint8(x[:2])  # warm-up
    t0 = time.perf_counter()
    done = 0
    while done < n:
        b = min(batch, n - done)
        runner.embed_uint8(x[:b])
        done += b
    return n / (time.perf_counter() - t0)


def pipeline(model, folder: Path, out: Path, batch: int, n: int) -> float:
    """Images per second of `embed_source` over the files, end to end."""
    t0 = time.perf_counter()
    result = embed_source(str(folder), out, model, "bench", EmbedConfig(batch_size=batch, progress=False, device="cpu"))
    elapsed = time.perf_counter() - t0
    assert result.count == n, result
    return n / elapsed


def main() -> None:
    """Run both measurements and print them with their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trunk", default="resnet50", choices=sorted(TRUNKS))
    ap.add_argument("--variant", default="paper", choices=["paper", "sscd"])
    ap.add_argument("--size", type=int, default=224, help="input resolution")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--photo-side", type=int, default=512, help="width of the JPEG files")
    ap.add_argument("--photos", type=Path, default=None,
                    help="re-encode these photographs (cycled) instead of writing synthetic noisy ones")
    ap.add_argument("--rounds", type=int, default=3, help="alternating repeats; medians are reported")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--detector", default=None, help="measure this detector (default, PATH) instead of a random "
                                                     "--trunk/--variant/--size one")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.detector:
        from detector.checkpoint import resolve_detector

        model = resolve_detector(args.detector)
        args.variant, args.size = model.config.variant, model.config.input_size
        args.trunk = next((k for k, v in TRUNKS.items() if v == model.config.trunk), "custom")
    else:
        model = build_detector(DetectorConfig(variant=args.variant, input_size=args.size, trunk=TRUNKS[args.trunk])).eval()
    runner = DescriptorRunner(model, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        if args.photos:
            copy_photos(folder, args.photos, args.images, args.photo_side)
        else:
            write_photos(folder, args.images, args.photo_side)
        mean_kib = sum(p.stat().st_size for p in folder.iterdir()) / args.images / 1024
        bare_forward(runner, 2 * args.batch, args.batch)  # warm-up
        bares, pipes = [], []
        for r in range(args.rounds):  # alternate; each round's two runs are adjacent in time
            pipes.append(pipeline(model, folder, Path(tmp) / f"out{r}", args.batch, args.images))
            bares.append(bare_forward(runner, args.images, args.batch))
    # other processes share the cores and their load drifts: compare within rounds, report medians
    ratios = [p / b for p, b in zip(pipes, bares)]
    bare, pipe, ratio = float(np.median(bares)), float(np.median(pipes)), float(np.median(ratios))
    kind = f"photographs from {args.photos}" if args.photos else "synthetic noisy images"
    print(f"detector {args.variant}/{args.trunk} at {args.size}px, batch {args.batch}, {args.images} JPEGs "
          f"({args.photo_side}px wide, {kind}, mean {mean_kib:.0f} KiB), torch threads {torch.get_num_threads()}")
    print(f"rounds (images/s): bare {[round(b, 2) for b in bares]}, pipeline {[round(p, 2) for p in pipes]}, "
          f"ratio {[round(r, 3) for r in ratios]}")
    print(f"bare forward pass:     {bare:8.2f} images/s (median)")
    print(f"descriptor pipeline:   {pipe:8.2f} images/s (median; files -> descriptors.npy)")
    print(f"ratio pipeline / bare: {ratio:8.3f} (median of per-round ratios; goal >= 0.85)")


if __name__ == "__main__":
    main()
