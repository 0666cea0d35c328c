"""Procedural images that fool naive local-feature matching, and the sample photographs installed with our dependencies.

Each generator takes a seed and a size and returns an RGB image; two seeds give two unrelated
images of the same kind (a chess board with another square size and offset, another star field,
another tiling). Naive inlier counts between such unrelated pairs run to dozens; the verification
stage (`detector.verify`) is tested and calibrated against them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Generator = Callable[[int, tuple[int, int]], Image.Image]


def blank(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A flat colour with faint sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = rng.integers(0, 256, 3)[None, None, :] + rng.normal(0, 0.6, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")


def chess_board(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A chess board with a random square size (12-40 px), offset and pair of colours."""
    rng = np.random.default_rng(seed)
    w, h = size
    square = int(rng.integers(12, 41))
    ox, oy = rng.integers(0, square, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    odd = (((xx + ox) // square + (yy + oy) // square) % 2).astype(bool)
    a, b = rng.integers(0, 100, 3), rng.integers(156, 256, 3)
    img = np.where(odd[..., None], a[None, None, :], b[None, None, :])
    return Image.fromarray(img.astype(np.uint8), mode="RGB")


def star_field(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """Random white dots of random brightness and radius on black."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, (0, 0, 0))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(150, 400))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.5, 2.5)
        v = int(rng.integers(120, 256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(v, v, v))
    return img.filter(ImageFilter.GaussianBlur(0.6))


def tiles(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A wall of identical tiles: one random motif (shapes on a colour) repeated on a grid."""
    rng = np.random.default_rng(seed)
    w, h = size
    side = int(rng.integers(20, 48))
    motif = Image.new("RGB", (side, side), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(motif)
    for _ in range(3):
        x0, y0 = rng.uniform(0, side * 0.6, 2)
        x1, y1 = x0 + rng.uniform(4, side * 0.4), y0 + rng.uniform(4, side * 0.4)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    draw.rectangle((0, 0, side - 1, side - 1), outline=(40, 40, 40), width=2)
    img = Image.new("RGB", size)
    ox, oy = rng.integers(0, side, 2)
    for y in range(-int(oy), h, side):
        for x in range(-int(ox), w, side):
            img.paste(motif, (x, y))
    return img


def stripes(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """Straight parallel stripes at a random angle, period and colour pair."""
    rng = np.random.default_rng(seed)
    w, h = size
    period, angle = rng.uniform(8, 30), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    on = (np.floor((xx * np.cos(angle) + yy * np.sin(angle)) / period) % 2).astype(bool)
    a, b = rng.integers(0, 100, 3), rng.integers(156, 256, 3)
    return Image.fromarray(np.where(on[..., None], a, b).astype(np.uint8), mode="RGB")


def bordered(image: Image.Image, seed: int, fraction: float = 0.15) -> Image.Image:
    """`image` shrunk inside a wide flat border of a random colour (letterboxed, framed)."""
    rng = np.random.default_rng(seed)
    w, h = image.size
    inner = image.resize((max(1, int(w * (1 - 2 * fraction))), max(1, int(h * (1 - 2 * fraction)))))
    out = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
    out.paste(inner.convert("RGB"), (int(w * fraction), int(h * fraction)))
    return out


HARD_NEGATIVES: dict[str, Generator] = {
    "blank": blank, "chess_board": chess_board, "star_field": star_field, "tiles": tiles, "stripes": stripes,
}


def sample_photographs() -> dict[str, Image.Image]:
    """Real photographs shipped with installed packages: scikit-learn's china/flower, matplotlib's grace_hopper."""
    photos: dict[str, Image.Image] = {}
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    for name, array in zip(samples.filenames, samples.images):
        photos[name.rsplit("/", 1)[-1].split(".")[0]] = Image.fromarray(array).convert("RGB")
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        photos["grace_hopper"] = Image.open(handle).convert("RGB")
    return photos
