"""Decoding images to RGB, with a clear reason when it fails.

Public API
----------
- ``IMAGE_EXTENSIONS``: file suffixes (lower case, with dot) read as images by folder sources.
- ``TAR_IMAGE_EXTENSIONS``: WebDataset member extensions that hold the image, in preference order.
- ``ImageDecodeError(ValueError)``: raised with the reason when bytes are not a readable image.
- ``decode_image(data: bytes, draft=None) -> PIL.Image.Image``: fully decode to RGB (alpha composited on
  white); with ``draft`` a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both
  sides >= ``draft`` pixels, for callers that will shrink it to that size anyway.
- ``load_image_file(path, draft=None) -> PIL.Image.Image``: read and decode a file (FileNotFoundError if absent).
- ``is_image_file(name) -> bool``: whether a file name has an image suffix.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm",
)
TAR_IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "bmp")


class ImageDecodeError(ValueError):
    """The bytes are not a readable image; the message is the reason."""


def is_image_file(name: str | os.PathLike[str]) -> bool:
    """Whether ``name`` ends with an image suffix."""
    return os.path.splitext(str(name))[1].lower() in IMAGE_EXTENSIONS


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB, compositing transparency on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def decode_image(data: bytes, draft: int | None = None) -> Image.Image:
    """Decode image bytes into an RGB image (JPEGs at reduced scale >= `draft` px), or raise ImageDecodeError."""
    if not data:
        raise ImageDecodeError("empty image data")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if draft and img.format == "JPEG":
                img.draft(None, (draft, draft))  # DCT-domain downscaling: much less to decode
            img.load()
            rgb = _to_rgb(img)
            if rgb is img:
                rgb = img.copy()
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise ImageDecodeError(f"{type(exc).__name__}: {exc}") from exc
    if rgb.width == 0 or rgb.height == 0:
        raise ImageDecodeError("image has zero size")
    return rgb


def load_image_file(path: str | os.PathLike[str], draft: int | None = None) -> Image.Image:
    """Read and decode an image file to RGB; FileNotFoundError if absent, ImageDecodeError if bad."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    return decode_image(p.read_bytes(), draft)


def jpeg_data_uri(image: Image.Image, size: int) -> str:
    """A JPEG thumbnail (longest side at most `size`) as a data URI, for self-contained HTML pages."""
    import base64

    thumbnail = image.convert("RGB")
    thumbnail.thumbnail((size, size))
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
