"""A pre-training workload for the scaling benchmarks: WebDataset JPEG shards with planted copies of an evaluation set.

Photographs come from `--photos` (default runs/detector-images/train, built by
scripts/fetch_detector_images.py); without them, procedural photo-like scenes are used. Every
`copy_every`-th pre-training item is an augmented copy of an evaluation image, so the
verification stage has candidates to check, as in a real audit.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clip_core.data.writers import write_image_folder, write_webdataset  # noqa: E402
from detector.augment import colour_jitter, crop_zoom, jpeg  # noqa: E402

DEFAULT_PHOTOS = Path("runs/detector-images/train")


@dataclass(frozen=True)
class Workload:
    """Where the workload lies and what it holds."""

    eval_dir: Path
    pretraining: Path
    n_eval: int
    n_pretraining: int
    n_shards: int
    photos: str  # where the pictures came from


def _pictures(photos: Path, n: int, seed: int) -> tuple[list[Image.Image], str]:
    """n pictures: photographs when the folder has enough, else procedural scenes."""
    files = sorted(photos.glob("*.png")) + sorted(photos.glob("*.jpg")) if photos.is_dir() else []
    if len(files) >= n:
        chosen = np.random.default_rng(seed).choice(len(files), n, replace=False)
        return [Image.open(files[i]).convert("RGB") for i in chosen], str(photos)
    from tests.audit.planted_scenes import scene

    return [scene(seed * 100_000 + i, size=256) for i in range(n)], "procedural scenes (no --photos folder)"


def build_workload(root: Path, n_shards: int, per_shard: int, n_eval: int = 200, copy_every: int = 50,
                   photos: Path = DEFAULT_PHOTOS, seed: int = 0) -> Workload:
    """Write (once) the evaluation folder and the pre-training shards under `root` (a fresh `root` per shape)."""
    n_pretraining = n_shards * per_shard
    marker = root / f"workload-{n_shards}x{per_shard}-{n_eval}-{copy_every}-{seed}.done"
    if not marker.is_file():
        pictures, origin = _pictures(photos, n_eval + n_pretraining, seed)
        evaluation = pictures[:n_eval]
        write_image_folder([(f"eval{i:05d}", image, None) for i, image in enumerate(evaluation)], root / "eval")
        rng = np.random.default_rng(seed + 1)
        items = []
        for i in range(n_pretraining):
            if i % copy_every == 0:
                source = evaluation[int(rng.integers(n_eval))]
                image = jpeg(colour_jitter(crop_zoom(source, rng, min_area=0.6), rng), rng, min_quality=50, max_quality=90)
            else:
                image = pictures[n_eval + i]
            items.append((f"item{i:07d}", image, "a picture"))
        write_webdataset(items, root / "pretraining", shard_size=per_shard, ext="jpg")
        marker.write_text(origin + "\n")
    origin = marker.read_text().strip()
    return Workload(root / "eval", root / "pretraining", n_eval, n_pretraining, n_shards, origin)
