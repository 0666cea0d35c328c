"""Image augmentations of both recipes (paper App. C and SSCD), each a small function on a PIL image.

Every function takes the image and an explicit `numpy.random.Generator` and returns a new RGB
image; the same generator state gives the same output. `FAMILIES` holds the named transform
families of the copy-detection benchmark; `TrainAugment` chains the training recipe.
"""
from __future__ import annotations

import io
import string
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Augmentation = Callable[[Image.Image, np.random.Generator], Image.Image]

INTERPOLATIONS = (
    Image.Resampling.NEAREST,
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.BOX,
    Image.Resampling.HAMMING,
)


def random_interpolation(rng: np.random.Generator) -> Image.Resampling:
    """One of Pillow's resampling filters, uniformly at random."""
    return INTERPOLATIONS[int(rng.integers(len(INTERPOLATIONS)))]


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))  # type: ignore[return-value]


def crop_zoom(img: Image.Image, rng: np.random.Generator, min_area: float = 0.3, max_area: float = 1.0,
              max_log_ratio: float = 0.5, zoom: bool = True) -> Image.Image:
    """Crop a random region (area fraction and aspect ratio random); `zoom` resizes it back to the input size."""
    img = _rgb(img)
    w, h = img.size
    area = rng.uniform(min_area, max_area) * w * h
    ratio = float(np.exp(rng.uniform(-max_log_ratio, max_log_ratio)))
    cw = int(round(min(w, max(1.0, np.sqrt(area * ratio)))))
    ch = int(round(min(h, max(1.0, np.sqrt(area / ratio)))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    out = img.crop((x0, y0, x0 + cw, y0 + ch))
    return out.resize((w, h), random_interpolation(rng)) if zoom else out


def aspect_distort(img: Image.Image, rng: np.random.Generator, max_ratio: float = 1.6) -> Image.Image:
    """Stretch one axis by a factor in [1, max_ratio] (squash the other way with probability 0.5)."""
    img = _rgb(img)
    w, h = img.size
    f = rng.uniform(1.0, max_ratio)
    size = (max(1, int(w * f)), h) if rng.random() < 0.5 else (w, max(1, int(h * f)))
    return img.resize(size, random_interpolation(rng))


def rescale(img: Image.Image, rng: np.random.Generator, min_scale: float = 0.2, max_scale: float = 1.5,
            restore_probability: float = 0.5) -> Image.Image:
    """Resize by a random factor with a random filter; with `restore_probability` scale back to the input size."""
    img = _rgb(img)
    w, h = img.size
    s = rng.uniform(min_scale, max_scale)
    out = img.resize((max(8, int(w * s)), max(8, int(h * s))), random_interpolation(rng))
    if rng.random() < restore_probability:
        out = out.resize((w, h), random_interpolation(rng))
    return out


def rotate_small(img: Image.Image, rng: np.random.Generator, max_degrees: float = 15.0,
                 expand: bool = False) -> Image.Image:
    """Rotate by a uniform angle in [-max_degrees, max_degrees], filling corners with a random colour."""
    angle = rng.uniform(-max_degrees, max_degrees)
    return _rgb(img).rotate(angle, resample=Image.Resampling.BILINEAR, expand=expand, fillcolor=_random_colour(rng))


def rotate_right_angle(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rotate by 90, 180 or 270 degrees."""
    ops = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
    return _rgb(img).transpose(ops[int(rng.integers(3))])


def flip(img: Image.Image, rng: np.random.Generator, vertical_probability: float = 0.25) -> Image.Image:
    """Mirror left-right, or (with `vertical_probability`) top-bottom."""
    op = Image.Transpose.FLIP_TOP_BOTTOM if rng.random() < vertical_probability else Image.Transpose.FLIP_LEFT_RIGHT
    return _rgb(img).transpose(op)


def jpeg(img: Image.Image, rng: np.random.Generator, min_quality: int = 5, max_quality: int = 95) -> Image.Image:
    """Re-encode as JPEG at a random quality in [min_quality, max_quality]."""
    if not 1 <= min_quality <= max_quality <= 100:
        raise ValueError(f"jpeg quality range must satisfy 1 <= min <= max <= 100, got {min_quality}..{max_quality}")
    buf = io.BytesIO()
    _rgb(img).save(buf, format="JPEG", quality=int(rng.integers(min_quality, max_quality + 1)))
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def colour_jitter(img: Image.Image, rng: np.random.Generator, brightness: float = 0.4, contrast: float = 0.4,
                  saturation: float = 0.4, hue: float = 0.1) -> Image.Image:
    """Random brightness, contrast, saturation and hue (HSV) changes, applied in random order."""
    img = _rgb(img)
    ops: list[Callable[[Image.Image], Image.Image]] = [
        lambda im: ImageEnhance.Brightness(im).enhance(rng.uniform(1 - brightness, 1 + brightness)),
        lambda im: ImageEnhance.Contrast(im).enhance(rng.uniform(1 - contrast, 1 + contrast)),
        lambda im: ImageEnhance.Color(im).enhance(rng.uniform(1 - saturation, 1 + saturation)),
        lambda im: hsv_shift(im, rng.uniform(-hue, hue)),
    ]
    for i in rng.permutation(len(ops)):
        img = ops[int(i)](img)
    return img


def hsv_shift(img: Image.Image, hue_shift: float, saturation_scale: float = 1.0, value_scale: float = 1.0) -> Image.Image:
    """Shift hue by `hue_shift` turns and scale saturation and value."""
    hsv = np.asarray(_rgb(img).convert("HSV"), dtype=np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue_shift * 255.0) % 255.0
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation_scale, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * value_scale, 0, 255)
    return Image.fromarray(hsv.astype(np.uint8), mode="HSV").convert("RGB")


def grayscale(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Convert to gray (kept as three channels)."""
    return ImageOps.grayscale(_rgb(img)).convert("RGB")


def blur(img: Image.Image, rng: np.random.Generator, min_radius: float = 0.5, max_radius: float = 3.0) -> Image.Image:
    """Gaussian blur with a random radius (relative to a 256-pixel short side)."""
    img = _rgb(img)
    scale = min(img.size) / 256.0
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(min_radius, max_radius) * scale))


def _random_text(rng: np.random.Generator, max_words: int = 4) -> str:
    letters = string.ascii_letters + string.digits + "!?&#@"
    words = ["".join(rng.choice(list(letters), size=int(rng.integers(2, 9)))) for _ in range(int(rng.integers(1, max_words + 1)))]
    return " ".join(words)


def text_overlay(img: Image.Image, rng: np.random.Generator, min_size: float = 0.06, max_size: float = 0.18,
                 lines: int = 2) -> Image.Image:
    """Draw random words in a random colour and size (fraction of the short side) at random places."""
    img = _rgb(img).copy()
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(int(rng.integers(1, lines + 1))):
        size = max(6, int(min(w, h) * rng.uniform(min_size, max_size)))
        font = ImageFont.load_default(size=size)
        x = int(rng.integers(0, max(1, int(w * 0.6))))
        y = int(rng.integers(0, max(1, h - size)))
        draw.text((x, y), _random_text(rng), fill=_random_colour(rng), font=font,
                  stroke_width=int(rng.integers(0, 3)), stroke_fill=_random_colour(rng))
    return img


def shape_overlay(img: Image.Image, rng: np.random.Generator, count: int = 3, min_size: float = 0.1,
                  max_size: float = 0.35) -> Image.Image:
    """Paste emoji-like stickers (faces, stars, discs, polygons) with random colour, size and opacity."""
    img = _rgb(img).convert("RGBA")
    w, h = img.size
    for _ in range(int(rng.integers(1, count + 1))):
        s = max(4, int(min(w, h) * rng.uniform(min_size, max_size)))
        layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        alpha = int(rng.integers(150, 256))
        colour = _random_colour(rng) + (alpha,)
        kind = int(rng.integers(4))
        if kind == 0:  # smiley face
            d.ellipse((0, 0, s - 1, s - 1), fill=colour, outline=(0, 0, 0, alpha), width=max(1, s // 20))
            e = max(1, s // 10)
            d.ellipse((s * 0.3 - e, s * 0.35 - e, s * 0.3 + e, s * 0.35 + e), fill=(0, 0, 0, alpha))
            d.ellipse((s * 0.7 - e, s * 0.35 - e, s * 0.7 + e, s * 0.35 + e), fill=(0, 0, 0, alpha))
            d.arc((s * 0.25, s * 0.4, s * 0.75, s * 0.8), 20, 160, fill=(0, 0, 0, alpha), width=max(1, s // 20))
        elif kind == 1:  # star
            t = np.linspace(0, 2 * np.pi, 11)[:-1] + rng.uniform(0, np.pi)
            r = np.where(np.arange(10) % 2 == 0, s / 2, s / 5)
            d.polygon([(s / 2 + ri * np.cos(ti), s / 2 + ri * np.sin(ti)) for ri, ti in zip(r, t)], fill=colour)
        elif kind == 2:  # disc with ring
            d.ellipse((0, 0, s - 1, s - 1), fill=colour)
            d.ellipse((s // 4, s // 4, 3 * s // 4, 3 * s // 4), fill=_random_colour(rng) + (alpha,))
        else:  # random polygon
            pts = rng.uniform(0, s, size=(int(rng.integers(3, 7)), 2))
            d.polygon([tuple(p) for p in pts], fill=colour)
        layer = layer.rotate(rng.uniform(0, 360), expand=False)
        img.alpha_composite(layer, (int(rng.integers(0, max(1, w - s))), int(rng.integers(0, max(1, h - s)))))
    return img.convert("RGB")


def border(img: Image.Image, rng: np.random.Generator, min_fraction: float = 0.05, max_fraction: float = 0.25) -> Image.Image:
    """Pad with a random-colour border whose width on each side is a random fraction of the image size."""
    img = _rgb(img)
    w, h = img.size
    pads = [int(rng.uniform(min_fraction, max_fraction) * (w if i % 2 == 0 else h)) for i in range(4)]
    return ImageOps.expand(img, border=tuple(pads), fill=_random_colour(rng))


def darken_or_flatten(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Make an image dark, or low in contrast and texture (what defeats hashes and weak detectors)."""
    kind = int(rng.integers(3))
    if kind == 0:
        return ImageEnhance.Brightness(img).enhance(rng.uniform(0.12, 0.3))
    if kind == 1:
        return ImageEnhance.Contrast(img).enhance(rng.uniform(0.15, 0.35))
    smooth = img.filter(ImageFilter.GaussianBlur(max(1.0, min(img.size) / 40)))
    return ImageEnhance.Contrast(smooth).enhance(rng.uniform(0.3, 0.6))


def random_tiles(img: Image.Image, rng: np.random.Generator, count: int, min_side: float = 0.3,
                 max_side: float = 0.5, max_pixels: int = 0) -> list[Image.Image]:
    """`count` non-overlapping square tiles of one image (side a random fraction of its short side).

    Tiles of one photograph are each other's hardest negatives (same palette, same texture), as
    the distractors of a copy-detection benchmark are. With `max_pixels` the image is first
    scaled down so that a tile is at most that many pixels wide (cheap augmentations later).
    """
    img = _rgb(img)
    if count < 1:
        raise ValueError(f"random_tiles needs count >= 1, got {count}")
    w, h = img.size
    grid = int(np.ceil(np.sqrt(count)))
    side = min(int(rng.uniform(min_side, max_side) * min(w, h)), min(w, h) // grid)
    side = max(1, side)
    if max_pixels and side > max_pixels:
        f = max_pixels / side
        img = img.resize((max(1, int(w * f)), max(1, int(h * f))), Image.Resampling.BILINEAR, reducing_gap=2.0)
        w, h, side = img.size[0], img.size[1], max(1, min(max_pixels, int(side * f)))
    nx, ny = max(1, w // side), max(1, h // side)
    ox, oy = int(rng.integers(0, w - nx * side + 1)), int(rng.integers(0, h - ny * side + 1))
    cells = rng.permutation(nx * ny)[:count]
    tiles = [img.crop((ox + int(c % nx) * side, oy + int(c // nx) * side, ox + int(c % nx + 1) * side,
                       oy + int(c // nx + 1) * side)) for c in cells]
    while len(tiles) < count:  # an image too small for `count` cells repeats tiles (rare: tiny inputs only)
        tiles.append(tiles[len(tiles) % len(cells)])
    return tiles


def _gray_std(img: Image.Image) -> float:
    return float(np.asarray(img.convert("L"), dtype=np.float32).std())


def _shrunk(img: Image.Image, max_side: int) -> Image.Image:
    if max(img.size) <= max_side:
        return img
    out = img.copy()
    out.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return out


def mixup(img: Image.Image, other: Image.Image, rng: np.random.Generator, max_weight: float = 0.4) -> Image.Image:
    """Blend `other` (resized to `img`) into `img` with a random weight up to `max_weight`."""
    img = _rgb(img)
    return Image.blend(img, _rgb(other).resize(img.size, Image.Resampling.BILINEAR), float(rng.uniform(0.05, max_weight)))


# --- benchmark transform families -------------------------------------------------------------

def _family_resize(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return rescale(img, rng, min_scale=0.25, max_scale=0.6, restore_probability=0.0)


def _family_jpeg(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return jpeg(img, rng, min_quality=5, max_quality=25)


def _family_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return crop_zoom(img, rng, min_area=0.35, max_area=0.65, max_log_ratio=0.3, zoom=False)


def _family_rotation(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return rotate_right_angle(img, rng) if rng.random() < 0.5 else rotate_small(img, rng, max_degrees=25.0)


def _family_colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return colour_jitter(img, rng, brightness=0.5, contrast=0.5, saturation=0.8, hue=0.3)


def _family_blur(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return blur(img, rng, min_radius=2.0, max_radius=5.0)


def _family_text(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return text_overlay(img, rng, min_size=0.1, max_size=0.22, lines=3)


def _family_border(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return border(img, rng, min_fraction=0.1, max_fraction=0.3)


def _family_aspect(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return aspect_distort(img, rng, max_ratio=2.5)


FAMILIES: dict[str, Augmentation] = {
    "resize": _family_resize,
    "jpeg": _family_jpeg,
    "crop": _family_crop,
    "flip": flip,
    "rotation": _family_rotation,
    "colour": _family_colour,
    "grayscale": grayscale,
    "blur": _family_blur,
    "text": _family_text,
    "border": _family_border,
    "aspect": _family_aspect,
}


def combo3(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Three distinct single families, chosen at random, applied in sequence."""
    for name in rng.choice(sorted(FAMILIES), size=3, replace=False):
        img = FAMILIES[str(name)](img, rng)
    return img


FAMILIES["combo3"] = combo3
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def apply_family(name: str, img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Apply the benchmark transform family `name`."""
    if name not in FAMILIES:
        raise ValueError(f"unknown transform family {name!r}; known: {', '.join(FAMILY_NAMES)}")
    return FAMILIES[name](img, rng)


# --- training recipe ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainAugment:
    """Probabilities and strengths of the training recipe (both papers' augmentations); views are `size` x `size`.

    `tiles_per_image` > 1 cuts that many non-overlapping tiles from each image (hard negatives for
    each other in the batch), each darkened or flattened with `p_harden`; both views of a pair are
    made from the same tile.
    """

    size: int = 224
    crop_min_area: float = 0.25
    p_aspect: float = 0.3
    max_aspect: float = 1.6
    p_rescale: float = 0.3
    p_rotate_small: float = 0.2
    max_degrees: float = 15.0
    p_rotate_right: float = 0.1
    p_flip: float = 0.3
    p_colour: float = 0.6
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    p_grayscale: float = 0.1
    p_blur: float = 0.2
    max_blur: float = 3.0
    p_text: float = 0.15
    text_min_size: float = 0.06
    text_max_size: float = 0.18
    text_lines: int = 2
    p_shapes: float = 0.15
    p_border: float = 0.1
    max_border: float = 0.25
    p_jpeg: float = 0.5
    min_jpeg_quality: int = 10
    p_jpeg_source: float = 0.0
    p_mixup: float = 0.0
    tiles_per_image: int = 1
    tile_min_side: float = 0.3
    tile_max_side: float = 0.5
    p_harden: float = 0.0
    min_tile_std: float = 6.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ValueError(f"TrainAugment.{name} must be a probability, got {value}")
        if self.size < 8:
            raise ValueError(f"TrainAugment.size must be >= 8, got {self.size}")
        if self.tiles_per_image < 1 or not 0.0 < self.tile_min_side <= self.tile_max_side <= 1.0:
            raise ValueError("TrainAugment needs tiles_per_image >= 1 and 0 < tile_min_side <= tile_max_side <= 1")
        if self.text_lines < 1 or not 0.0 < self.text_min_size <= self.text_max_size <= 1.0:
            raise ValueError("TrainAugment needs text_lines >= 1 and 0 < text_min_size <= text_max_size <= 1")

    def base_images(self, img: Image.Image, rng: np.random.Generator, other: Image.Image | None = None) -> list[Image.Image]:
        """The images pairs are made from: the image itself, or its tiles (possibly hardened).

        A nearly blank tile (gray std < `min_tile_std`; two of them would be identical negatives)
        is replaced by the whole image once, then by a tile of `other` (another image).
        """
        if self.tiles_per_image == 1 and self.p_harden == 0.0:
            return [img]
        tiles = random_tiles(img, rng, self.tiles_per_image, self.tile_min_side, self.tile_max_side, 2 * self.size)
        whole_used = False
        for i, tile in enumerate(tiles):
            if _gray_std(tile) >= self.min_tile_std:
                continue
            if not whole_used:
                whole_used = True
                tiles[i] = _shrunk(_rgb(img), 2 * self.size)
            elif other is not None:
                tiles[i] = random_tiles(other, rng, 1, self.tile_min_side, 2 * self.tile_max_side, 2 * self.size)[0]
        return [darken_or_flatten(t, rng) if rng.random() < self.p_harden else t for t in tiles]

    def __call__(self, img: Image.Image, rng: np.random.Generator, other: Image.Image | None = None) -> Image.Image:
        """One augmented view of `img`; `other` is the mixup partner (used with probability `p_mixup`)."""
        img = crop_zoom(_rgb(img), rng, min_area=self.crop_min_area)
        steps: list[tuple[float, Augmentation]] = [
            (self.p_aspect, lambda im, r: aspect_distort(im, r, max_ratio=self.max_aspect)), (self.p_rescale, rescale),
            (self.p_rotate_small, lambda im, r: rotate_small(im, r, max_degrees=self.max_degrees)),
            (self.p_rotate_right, rotate_right_angle), (self.p_flip, flip),
            (self.p_colour, lambda im, r: colour_jitter(im, r, self.brightness, self.contrast, self.saturation, self.hue)),
            (self.p_grayscale, grayscale), (self.p_blur, lambda im, r: blur(im, r, max_radius=self.max_blur)),
            (self.p_border, lambda im, r: border(im, r, max_fraction=self.max_border)),
            (self.p_text, lambda im, r: text_overlay(im, r, self.text_min_size, self.text_max_size, self.text_lines)),
            (self.p_shapes, shape_overlay),
        ]
        for p, fn in steps:
            if rng.random() < p:
                img = fn(img, rng)
        if other is not None and rng.random() < self.p_mixup:
            img = mixup(img, other, rng)
        if self.p_jpeg_source > 0 and rng.random() < self.p_jpeg_source:  # at the source resolution, as files are
            img = jpeg(img, rng, min_quality=self.min_jpeg_quality, max_quality=95)
        img = img.resize((self.size, self.size), random_interpolation(rng))
        if rng.random() < self.p_jpeg:
            img = jpeg(img, rng, min_quality=self.min_jpeg_quality, max_quality=95)
        return img


# The recipe of the shipped default: photo tiles as hard negatives, half of them darkened or
# flattened, every transform at least as strong as the benchmark families (size is set per run).
PHOTO_TILES = TrainAugment(
    crop_min_area=0.3, p_aspect=0.3, max_aspect=2.5, p_rescale=0.3, p_rotate_small=0.25, max_degrees=25.0,
    p_rotate_right=0.2, p_flip=0.5, p_colour=0.7, brightness=0.5, contrast=0.5, saturation=0.8, hue=0.3,
    p_grayscale=0.15, p_blur=0.25, max_blur=5.0, p_text=0.25, p_shapes=0.15, p_border=0.25, max_border=0.3,
    p_jpeg=0.5, min_jpeg_quality=5, tiles_per_image=4, tile_min_side=0.25, tile_max_side=0.5, p_harden=0.5)
# Fine-tuning from a photo-tiles run: text overlays at the benchmark's size (larger, up to three
# lines) and JPEG also at the source resolution before resizing, as real re-encoded files are.
PHOTO_TILES_FINETUNE = replace(PHOTO_TILES, p_text=0.35, text_min_size=0.08, text_max_size=0.25, text_lines=3,
                               p_jpeg=0.3, p_jpeg_source=0.4)
RECIPES: dict[str, TrainAugment] = {"standard": TrainAugment(), "photo-tiles": PHOTO_TILES,
                                    "photo-tiles-finetune": PHOTO_TILES_FINETUNE}
