"""Building a copy-detection benchmark from photographs: references among distractors, transformed queries.

Layout written to `out`: `references/` (true references and distractors, neutral shuffled ids),
`queries/` (one query per reference and transform family) and `ground_truth.csv`
(`query_id,reference_id,family`). It is made hard on purpose: a share of the images is darkened
or flattened to low contrast and texture, and every reference sits among many distractors cut
from the same photographs.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from detector.augment import FAMILY_NAMES, apply_family, darken_or_flatten as harden


@dataclass(frozen=True)
class CopyBenchmarkConfig:
    """How many references, distractors per reference, which families, how hard, which seed."""

    n_references: int = 16
    distractors_per_reference: int = 10
    families: tuple[str, ...] = FAMILY_NAMES
    hard_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_references < 1 or self.distractors_per_reference < 0:
            raise ValueError("CopyBenchmarkConfig needs n_references >= 1 and distractors_per_reference >= 0")
        unknown = set(self.families) - set(FAMILY_NAMES)
        if unknown:
            raise ValueError(f"CopyBenchmarkConfig.families: unknown {sorted(unknown)}; known: {', '.join(FAMILY_NAMES)}")
        if not 0.0 <= self.hard_fraction <= 1.0:
            raise ValueError(f"CopyBenchmarkConfig.hard_fraction must be in [0, 1], got {self.hard_fraction}")


def photo_tiles(photos: Sequence[Image.Image], tile: int) -> list[Image.Image]:
    """Non-overlapping `tile` x `tile` crops of every photo (distinct content, so no hidden copies)."""
    if tile < 16:
        raise ValueError(f"tile must be >= 16 pixels, got {tile}")
    tiles = []
    for photo in photos:
        photo = photo.convert("RGB")
        w, h = photo.size
        for y in range(0, h - tile + 1, tile):
            for x in range(0, w - tile + 1, tile):
                tiles.append(photo.crop((x, y, x + tile, y + tile)))
    return tiles


def build_copy_benchmark(images: Sequence[Image.Image], out: str | Path, config: CopyBenchmarkConfig = CopyBenchmarkConfig()) -> dict:
    """Write references, distractors, queries and ground truth to `out`; return a summary dict."""
    out = Path(out)
    need = config.n_references * (1 + config.distractors_per_reference)
    if len(images) < need:
        raise ValueError(f"the benchmark needs {need} distinct images ({config.n_references} references x "
                         f"(1 + {config.distractors_per_reference} distractors)), got {len(images)}")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(images))[:need]
    chosen = [images[int(i)].convert("RGB") for i in order]
    hard = rng.random(need) < config.hard_fraction
    chosen = [harden(im, rng) if h else im for im, h in zip(chosen, hard)]
    (out / "references").mkdir(parents=True, exist_ok=True)
    (out / "queries").mkdir(parents=True, exist_ok=True)
    names = [f"r{k:05d}.png" for k in rng.permutation(need)]  # references and distractors mixed, ids neutral
    for name, im in zip(names, chosen):
        im.save(out / "references" / name)
    rows = []
    q = 0
    for ref_index in range(config.n_references):
        for fam in config.families:
            query = apply_family(fam, chosen[ref_index], rng)
            qid = f"q{q:05d}.png"
            query.save(out / "queries" / qid)
            rows.append((qid, names[ref_index], fam))
            q += 1
    order_rows = rng.permutation(len(rows))
    with (out / "ground_truth.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("query_id", "reference_id", "family"))
        writer.writerows(rows[int(i)] for i in order_rows)
    return {"references": config.n_references, "distractors": need - config.n_references, "queries": len(rows),
            "hard_images": int(hard.sum()), "families": list(config.families), "out": str(out)}
