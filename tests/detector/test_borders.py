"""Uniform borders are stripped before the global descriptor and the dense check see an image."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from detector.borders import border_box, strip_border, strip_image_border
from detector.preprocess import image_to_uint8


def scene(seed: int = 4, size: int = 96) -> Image.Image:
    """A textured picture whose edges are not uniform."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def test_strip_border_removes_padding_and_keeps_unpadded_images():
    original = np.asarray(scene())
    padded = np.asarray(ImageOps.expand(Image.fromarray(original), border=(7, 3, 11, 5), fill=(250, 0, 0)))
    assert border_box(padded) == (7, 3, 7 + 96, 3 + 96)
    assert strip_border(padded).shape == original.shape
    assert strip_border(original).shape == original.shape
    flat = np.full((50, 50, 3), 128, np.uint8)
    assert strip_border(flat).shape == flat.shape  # nothing would remain: unchanged


def test_a_smooth_edge_is_not_a_border():
    """A band of near-constant colour that fades into the picture (a sky) has no step: it stays."""
    y = np.linspace(0, 1, 80)[:, None, None]
    sky = np.clip(np.where(y < 0.3, 200.0, 200.0 - (y - 0.3) * 150.0) * np.ones((80, 80, 3)), 0, 255).astype(np.uint8)
    assert strip_border(sky).shape == sky.shape


def test_most_of_the_image_is_never_stripped():
    picture = np.asarray(scene(size=20))
    padded = np.asarray(ImageOps.expand(Image.fromarray(picture), border=40, fill=(0, 0, 0)))
    assert strip_border(padded).shape == padded.shape  # only 20% of each side would remain


def test_global_descriptor_input_of_a_padded_copy_is_the_original():
    original = scene(7)
    padded = ImageOps.expand(original, border=(20, 0, 20, 0), fill=(255, 255, 255))
    assert np.array_equal(image_to_uint8(padded, 64), image_to_uint8(original, 64))
    gray = original.convert("L")
    assert strip_image_border(gray).mode == "RGB" and strip_image_border(gray).size == gray.size
