"""A synthetic CelebA-format identity set: abstract patterned tiles, one pattern per invented name.

Files: ``img_align_celeba/NNNNNN.jpg``, ``identity_CelebA.txt`` (``image_id identity`` per line),
``list_eval_partition.txt`` (``image_id partition``, 0 train / 1 val / 2 test) and ``names.csv``
(``identity,name``; CelebA has no names, the probe needs one per identity).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from clip_core.atomic_files import atomic_write_text

SYLLABLES = ("ka", "lo", "mi", "ru", "te", "vo", "za", "ni", "sa", "po", "qu", "di")


@dataclass(frozen=True)
class IdentityImage:
    """One tile of one identity and its partition."""

    image: Image.Image
    identity: int
    partition: int


def invented_name(identity: int) -> str:
    """A made-up two-part name for an identity number."""
    first = SYLLABLES[identity % len(SYLLABLES)] + SYLLABLES[(identity * 5 + 1) % len(SYLLABLES)]
    last = SYLLABLES[(identity * 7 + 3) % len(SYLLABLES)] + SYLLABLES[(identity // len(SYLLABLES)) % len(SYLLABLES)]
    return f"{first} {last}"


def draw_identity(identity: int, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """Draw a tile: the identity fixes two hues and a 3x3 on/off layout; brightness and offset jitter."""
    pattern = np.random.default_rng(10_000 + identity)
    hues = pattern.random(2)
    cells = pattern.random(9) < 0.5
    shade = rng.uniform(0.75, 1.0)
    back = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hues[0], 0.6, shade))
    front = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hues[1], 0.9, 1.0 - 0.5 * shade))
    image = Image.new("RGB", (size, size), back)
    draw = ImageDraw.Draw(image)
    dx, dy = (int(rng.integers(-1, 2)) for _ in range(2))
    for k in np.flatnonzero(cells):
        x, y = 2 + 10 * (k % 3) + dx, 2 + 10 * (k // 3) + dy
        draw.rectangle((x, y, x + 7, y + 7), fill=front)
    return image


def sample_identities(n_identities: int, train_per: int, test_per: int, seed: int) -> list[IdentityImage]:
    """train_per training (partition 0) and test_per test (partition 2) tiles per identity."""
    rng = np.random.default_rng(seed)
    return [IdentityImage(draw_identity(i, rng), i, partition)
            for i in range(1, n_identities + 1)
            for partition, count in ((0, train_per), (2, test_per)) for _ in range(count)]


def write_celeba_fixture(root: Path, items: list[IdentityImage]) -> dict[str, Path]:
    """Write the images and the three CelebA-format text files; return their paths."""
    images = root / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    identity_lines, partition_lines = [], []
    for number, item in enumerate(items, start=1):
        image_id = f"{number:06d}.jpg"
        item.image.save(images / image_id, quality=95)
        identity_lines.append(f"{image_id} {item.identity}")
        partition_lines.append(f"{image_id} {item.partition}")
    paths = {"images": images, "identity": root / "identity_CelebA.txt",
             "partition": root / "list_eval_partition.txt", "names": root / "names.csv"}
    atomic_write_text(paths["identity"], "\n".join(identity_lines) + "\n")
    atomic_write_text(paths["partition"], "\n".join(partition_lines) + "\n")
    identities = sorted({item.identity for item in items})
    names = pd.DataFrame({"identity": identities, "name": [invented_name(i) for i in identities]})
    if names["name"].duplicated().any():
        raise ValueError("invented identity names collide; use fewer identities")
    atomic_write_text(paths["names"], names.to_csv(index=False))
    return paths
