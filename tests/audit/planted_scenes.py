"""Photo-like procedural images and augmented copies of them, for planted-copy scenarios on the default detector."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from detector.augment import colour_jitter, crop_zoom, jpeg, rescale


def scene(seed: int, size: int = 96) -> Image.Image:
    """A photo-like procedural image: a smooth colour field with blobs, lines and texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    field = np.zeros((size, size, 3))
    for _ in range(4):
        fx, fy, phase = rng.uniform(0.5, 4, 2).tolist() + [rng.uniform(0, 6.3)]
        field += rng.uniform(0, 1, 3) * (0.5 + 0.5 * np.sin(2 * np.pi * (fx * x + fy * y) + phase))[..., None]
    image = Image.fromarray(np.uint8(255 * field / field.max()))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 8))):
        box = sorted(rng.integers(0, size, 2).tolist()), sorted(rng.integers(0, size, 2).tolist())
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([box[0][0], box[1][0], box[0][1] + 4, box[1][1] + 4], fill=colour)
        draw.line([tuple(rng.integers(0, size, 2).tolist()), tuple(rng.integers(0, size, 2).tolist())], fill=colour, width=2)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def copy_of(image: Image.Image, seed: int) -> Image.Image:
    """An augmented copy, as a re-posted image would be."""
    rng = np.random.default_rng(seed)
    out = crop_zoom(image, rng, min_area=0.6)
    out = colour_jitter(out, rng, brightness=0.2, contrast=0.2, saturation=0.2, hue=0.03)
    out = rescale(out, rng)
    return jpeg(out, rng, min_quality=40, max_quality=90)
