"""Image preprocessing: bicubic shorter-side resize, centre crop, RGB, CLIP mean/std normalisation."""
from __future__ import annotations

from typing import Callable

import torch
from PIL import Image
from torchvision import transforms as T

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL image (L, P, RGBA, ...) to RGB."""
    if not isinstance(image, Image.Image):
        raise ValueError(f"expected a PIL image, got {type(image).__name__}")
    return image if image.mode == "RGB" else image.convert("RGB")


def image_transform(image_size: int, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """Evaluation transform (resize shorter side + centre crop) or training transform (random resized crop, scale 0.9-1)."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    bicubic = T.InterpolationMode.BICUBIC
    if train:
        geometry = [T.RandomResizedCrop(image_size, scale=(0.9, 1.0), interpolation=bicubic)]
    else:
        geometry = [T.Resize(image_size, interpolation=bicubic), T.CenterCrop(image_size)]
    # Same order as the reference code (geometry first, then RGB) so every image mode gives its numbers.
    return T.Compose([*geometry, to_rgb, T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])
