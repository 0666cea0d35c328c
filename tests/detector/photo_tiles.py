"""Textured tiles of scikit-learn's sample photographs: real keypoints, no copies among them."""
from __future__ import annotations

import numpy as np
from PIL import Image


def texture(image: Image.Image) -> float:
    """Mean absolute gray-level gradient: sky and out-of-focus tiles score low."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    return float(np.abs(np.diff(gray, axis=0)).mean() + np.abs(np.diff(gray, axis=1)).mean())


def photo_tiles(side: int = 96) -> list[Image.Image]:
    """Non-overlapping crops of scikit-learn's two sample photographs, most textured first (no copies among them)."""
    from sklearn.datasets import load_sample_images

    tiles = []
    for array in load_sample_images().images:
        photo = Image.fromarray(array)
        for y in range(0, photo.height - side + 1, side):
            for x in range(0, photo.width - side + 1, side):
                tiles.append(photo.crop((x, y, x + side, y + side)))
    return sorted(tiles, key=texture, reverse=True)
