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


def distinct_photos(photos: Sequence[Image.Image], max_distance: int = 12) -> list[Image.Image]:
    """One photograph per near-duplicate group (pHash Hamming distance <= max_distance), first kept.

    Wallpaper packages ship one picture at several crops and resolutions; as references and
    distractors of one benchmark they would be hidden copies of each other.
    """
    import imagehash

    kept, hashes = [], []
    for photo in photos:
        h = imagehash.phash(photo.convert("RGB"))
        if all(h - other > max_distance for other in hashes):
            kept.append(photo)
            hashes.append(h)
    return kept


def _write_part(images: Sequence[Image.Image], out: Path, config: CopyBenchmarkConfig, prefix: str,
                rng: np.random.Generator) -> tuple[list[tuple[str, str, str]], dict]:
    """Write one part's references, distractors and queries; return its ground-truth rows and summary."""
    need = config.n_references * (1 + config.distractors_per_reference)
    if len(images) < need:
        raise ValueError(f"the benchmark needs {need} distinct images ({config.n_references} references x "
                         f"(1 + {config.distractors_per_reference} distractors)), got {len(images)}")
    order = rng.permutation(len(images))[:need]
    chosen = [images[int(i)].convert("RGB") for i in order]
    hard = rng.random(need) < config.hard_fraction
    chosen = [harden(im, rng) if h else im for im, h in zip(chosen, hard)]
    (out / "references").mkdir(parents=True, exist_ok=True)
    (out / "queries").mkdir(parents=True, exist_ok=True)
    names = [f"r{prefix}{k:05d}.png" for k in rng.permutation(need)]  # references and distractors mixed, ids neutral
    for name, im in zip(names, chosen):
        im.save(out / "references" / name)
    rows = []
    q = 0
    for ref_index in range(config.n_references):
        for fam in config.families:
            query = apply_family(fam, chosen[ref_index], rng)
            qid = f"q{prefix}{q:05d}.png"
            query.save(out / "queries" / qid)
            rows.append((qid, names[ref_index], fam))
            q += 1
    summary = {"references": config.n_references, "distractors": need - config.n_references, "queries": len(rows),
               "hard_images": int(hard.sum()), "families": list(config.families)}
    return rows, summary


def _write_ground_truth(rows: list[tuple[str, str, str]], out: Path, rng: np.random.Generator) -> None:
    """ground_truth.csv with the rows in random order."""
    order_rows = rng.permutation(len(rows))
    with (out / "ground_truth.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("query_id", "reference_id", "family"))
        writer.writerows(rows[int(i)] for i in order_rows)


def build_copy_benchmark(images: Sequence[Image.Image], out: str | Path, config: CopyBenchmarkConfig = CopyBenchmarkConfig()) -> dict:
    """Write references, distractors, queries and ground truth to `out`; return a summary dict."""
    return build_mixed_benchmark([("", images, config)], out, config.seed)


def build_mixed_benchmark(parts: Sequence[tuple[str, Sequence[Image.Image], CopyBenchmarkConfig]], out: str | Path,
                          seed: int = 0) -> dict:
    """Several kinds of image (e.g. tiles and whole photographs) in one benchmark, each among its own kind.

    `parts` are (id prefix, images, config); each part's references sit among distractors of the
    same part, and all of them share one reference folder, query folder and ground truth.
    """
    out = Path(out)
    prefixes = [prefix for prefix, _, _ in parts]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"benchmark parts need distinct id prefixes, got {prefixes}")
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str]] = []
    summaries = {}
    for prefix, images, config in parts:
        part_rows, summaries[prefix or "images"] = _write_part(images, out, config, prefix, rng)
        rows += part_rows
    _write_ground_truth(rows, out, rng)
    totals = {key: sum(s[key] for s in summaries.values()) for key in ("references", "distractors", "queries", "hard_images")}
    families = sorted({f for s in summaries.values() for f in s["families"]})
    summary = {**totals, "families": families, "out": str(out)}
    if len(parts) > 1:
        summary["parts"] = summaries
    return summary
