"""Procedural scenes of the synthetic world: attributes, sampling and rendering with PIL.

A scene is ``count`` identical shapes (same shape, colour and size) on a background that has a
colour and a texture. Every random choice is drawn from a ``random.Random`` and stored in the
``Scene``, so rendering is a pure function of the scene and the image size.

Public API
----------
- Attribute vocabularies: ``COLORS`` (10 named RGB colours), ``SHAPES`` (8), ``SIZES``
  (small/medium/large -> fraction of the image side), ``COUNTS`` (1-4 with ``COUNT_WORDS``),
  ``TEXTURES`` (plain/striped/dotted/checkered), ``BACKGROUNDS`` (neutral and pale colours, named
  apart from the object colours), ``NEUTRAL_BACKGROUNDS``, ``POSITIONS`` (3x3 grid names).
- ``SceneConstraints``: allowed values per attribute (None = the world's default distribution).
- ``Scene``: the sampled attributes plus placements (centre x, y in [0, 1], angle in degrees).
- ``sample_scene(rng, constraints=SceneConstraints()) -> Scene``.
- ``render_scene(scene, size=64) -> PIL.Image.Image``: RGB, ``size`` x ``size``.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "orange": (250, 140, 15),
    "yellow": (245, 215, 30),
    "green": (35, 160, 50),
    "cyan": (30, 200, 215),
    "blue": (35, 70, 215),
    "purple": (130, 45, 175),
    "pink": (250, 125, 195),
    "brown": (125, 75, 30),
    "black": (25, 25, 25),
}
SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "hexagon", "diamond", "cross", "crescent",
)
PLURALS: dict[str, str] = {s: s + ("es" if s.endswith(("s", "x", "sh", "ch")) else "s") for s in SHAPES}
SIZES: dict[str, float] = {"small": 0.22, "medium": 0.36, "large": 0.58}
COUNTS: tuple[int, ...] = (1, 2, 3, 4)
COUNT_WORDS: dict[int, str] = {1: "one", 2: "two", 3: "three", 4: "four"}
TEXTURES: tuple[str, ...] = ("plain", "striped", "dotted", "checkered")
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 242),
    "gray": (150, 150, 150),
    "beige": (228, 212, 180),
    "pale blue": (200, 218, 240),
    "pale green": (206, 234, 204),
    "pale yellow": (246, 240, 196),
}
NEUTRAL_BACKGROUNDS: tuple[str, ...] = ("white", "gray", "beige")
POSITIONS: dict[str, tuple[float, float]] = {
    "in the top left corner": (0.0, 0.0),
    "at the top": (0.5, 0.0),
    "in the top right corner": (1.0, 0.0),
    "on the left": (0.0, 0.5),
    "in the center": (0.5, 0.5),
    "on the right": (1.0, 0.5),
    "in the bottom left corner": (0.0, 1.0),
    "at the bottom": (0.5, 1.0),
    "in the bottom right corner": (1.0, 1.0),
}

_SUPERSAMPLE = 2


@dataclass(frozen=True)
class SceneConstraints:
    """Allowed values per attribute; None means the world's default distribution."""

    colors: Sequence[str] | None = None
    shapes: Sequence[str] | None = None
    sizes: Sequence[str] | None = None
    counts: Sequence[int] | None = None
    backgrounds: Sequence[str] | None = None
    textures: Sequence[str] | None = None


@dataclass(frozen=True)
class Placement:
    """One shape instance: centre (fractions of the side) and rotation in degrees."""

    x: float
    y: float
    angle: float


@dataclass(frozen=True)
class Scene:
    """All attributes and random draws of one synthetic image."""

    shape: str
    color: str
    color_rgb: tuple[int, int, int]
    size: str
    count: int
    background: str
    background_rgb: tuple[int, int, int]
    texture: str
    texture_period: float  # fraction of the side
    texture_angle: int  # 0, 45, 90 or 135 degrees (stripes)
    position: str | None  # grid position name when count == 1
    radius: float  # shape radius, fraction of the side
    placements: tuple[Placement, ...] = field(default_factory=tuple)


def _check(values: Sequence, allowed: Sequence, what: str) -> list:
    """Validate constrained values against the vocabulary."""
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"unknown synthetic {what}: {bad}; known: {list(allowed)}")
    if not values:
        raise ValueError(f"empty list of allowed synthetic {what}")
    return list(values)


def _jitter(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    """Small per-scene colour jitter, clipped to [0, 255]."""
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in rgb)  # type: ignore[return-value]


def _place(rng: random.Random, count: int, radius: float, position: str | None) -> tuple[Placement, ...]:
    """Non-overlapping centres (best effort) inside the image for ``count`` shapes."""
    lo, hi = radius + 0.02, 1.0 - radius - 0.02
    if lo > hi:
        lo = hi = 0.5
    if position is not None:
        gx, gy = POSITIONS[position]
        x = lo + (hi - lo) * gx + rng.uniform(-0.04, 0.04)
        y = lo + (hi - lo) * gy + rng.uniform(-0.04, 0.04)
        x, y = min(max(x, lo), hi), min(max(y, lo), hi)
        return (Placement(x, y, rng.uniform(0, 360)),)
    placed: list[Placement] = []
    for _ in range(count):
        best = None
        for _attempt in range(60):
            cand = Placement(rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(0, 360))
            gap = min((math.hypot(cand.x - p.x, cand.y - p.y) for p in placed), default=9.0)
            if best is None or gap > best[0]:
                best = (gap, cand)
            if gap >= 2.05 * radius:
                break
        placed.append(best[1])
    return tuple(placed)


def sample_scene(rng: random.Random, constraints: SceneConstraints = SceneConstraints()) -> Scene:
    """Draw one scene from the world's distribution, restricted by ``constraints``."""
    c = constraints
    counts = _check(c.counts, COUNTS, "counts") if c.counts is not None else None
    count = rng.choice(counts) if counts else rng.choices(COUNTS, weights=(0.4, 0.25, 0.2, 0.15))[0]
    if c.sizes is not None:
        size = rng.choice(_check(c.sizes, list(SIZES), "sizes"))
    else:
        size = rng.choice(["small", "medium", "large"] if count == 1 else ["small", "medium"])
    shape = rng.choice(_check(c.shapes, SHAPES, "shapes") if c.shapes is not None else SHAPES)
    color = rng.choice(_check(c.colors, list(COLORS), "colors") if c.colors is not None else list(COLORS))
    if c.backgrounds is not None:
        background = rng.choice(_check(c.backgrounds, list(BACKGROUNDS), "backgrounds"))
    else:
        pale = [b for b in BACKGROUNDS if b not in NEUTRAL_BACKGROUNDS]
        background = rng.choice(list(NEUTRAL_BACKGROUNDS) if rng.random() < 0.7 else pale)
    if c.textures is not None:
        texture = rng.choice(_check(c.textures, TEXTURES, "textures"))
    else:
        texture = rng.choices(TEXTURES, weights=(0.4, 0.2, 0.2, 0.2))[0]
    position = rng.choice(list(POSITIONS)) if count == 1 else None
    radius = SIZES[size] / 2 * (0.92 + 0.16 * rng.random())
    if count > 1:
        radius = min(radius, 0.5 / math.sqrt(count) - 0.03)
    return Scene(
        shape=shape,
        color=color,
        color_rgb=_jitter(COLORS[color], rng, 12),
        size=size,
        count=count,
        background=background,
        background_rgb=_jitter(BACKGROUNDS[background], rng, 6),
        texture=texture,
        texture_period=rng.uniform(0.1, 0.16),
        texture_angle=rng.choice((0, 45, 90, 135)),
        position=position,
        radius=radius,
        placements=_place(rng, count, radius, position),
    )


def _polygon(cx: float, cy: float, radii: Sequence[float], angle: float) -> list[tuple[float, float]]:
    """Vertices at evenly spaced angles with the given radii, rotated by ``angle`` degrees."""
    n = len(radii)
    out = []
    for i, r in enumerate(radii):
        t = math.radians(angle) + 2 * math.pi * i / n - math.pi / 2
        out.append((cx + r * math.cos(t), cy + r * math.sin(t)))
    return out


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, angle: float) -> None:
    """Draw one filled shape (value 255) on a mask."""
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, [r * 1.25] * 4, angle % 90 + 45), fill=255)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, [r * 1.15] * 3, angle % 120), fill=255)
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, [r * 1.1, r * 0.45] * 5, angle % 72), fill=255)
    elif shape == "hexagon":
        draw.polygon(_polygon(cx, cy, [r * 1.05] * 6, angle % 60), fill=255)
    elif shape == "diamond":
        pts = [(0.0, -1.15 * r), (0.7 * r, 0.0), (0.0, 1.15 * r), (-0.7 * r, 0.0)]
        t = math.radians((angle % 60) - 30)
        draw.polygon(
            [(cx + x * math.cos(t) - y * math.sin(t), cy + x * math.sin(t) + y * math.cos(t)) for x, y in pts],
            fill=255,
        )
    elif shape == "cross":
        w = 0.36 * r
        arm = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)]
        t = math.radians(angle % 90)
        draw.polygon(
            [(cx + x * math.cos(t) - y * math.sin(t), cy + x * math.sin(t) + y * math.cos(t)) for x, y in arm],
            fill=255,
        )
    elif shape == "crescent":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        t = math.radians(angle)
        ox, oy = cx + 0.45 * r * math.cos(t), cy + 0.45 * r * math.sin(t)
        draw.ellipse((ox - 0.85 * r, oy - 0.85 * r, ox + 0.85 * r, oy + 0.85 * r), fill=0)
    else:
        raise ValueError(f"unknown synthetic shape {shape!r}")


def _pattern_rgb(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A shade of the background colour for its texture."""
    lum = 0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2]
    delta = -40 if lum > 110 else 40
    return tuple(max(0, min(255, c + delta)) for c in rgb)  # type: ignore[return-value]


def _draw_texture(img: Image.Image, scene: Scene) -> None:
    """Paint the background texture in a shade of the background colour."""
    if scene.texture == "plain":
        return
    side = img.width
    period = max(4.0, scene.texture_period * side)
    ink = _pattern_rgb(scene.background_rgb)
    draw = ImageDraw.Draw(img)
    if scene.texture == "striped":
        width = max(1, int(period / 2.5))
        n = int(2 * side / period) + 2
        a = scene.texture_angle
        for k in range(-n, n + 1):
            o = k * period
            if a == 0:
                draw.line([(0, o), (side, o)], fill=ink, width=width)
            elif a == 90:
                draw.line([(o, 0), (o, side)], fill=ink, width=width)
            elif a == 45:
                draw.line([(o, 0), (o + side, side)], fill=ink, width=width)
            else:
                draw.line([(o, 0), (o - side, side)], fill=ink, width=width)
    elif scene.texture == "dotted":
        r = period / 5
        steps = int(side / period) + 2
        for i in range(steps):
            for j in range(steps):
                x = (i + 0.5) * period + (period / 2 if j % 2 else 0)
                y = (j + 0.5) * period
                draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    elif scene.texture == "checkered":
        steps = int(side / period) + 1
        for i in range(steps):
            for j in range(steps):
                if (i + j) % 2:
                    draw.rectangle((i * period, j * period, (i + 1) * period, (j + 1) * period), fill=ink)
    else:
        raise ValueError(f"unknown synthetic texture {scene.texture!r}")


def render_scene(scene: Scene, size: int = 64) -> Image.Image:
    """Render a scene to an RGB image of ``size`` x ``size`` pixels (anti-aliased)."""
    if size < 8:
        raise ValueError(f"synthetic image size must be at least 8 pixels, got {size}")
    big = size * _SUPERSAMPLE
    img = Image.new("RGB", (big, big), scene.background_rgb)
    _draw_texture(img, scene)
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    radius = scene.radius * big
    for p in scene.placements:
        _draw_shape(draw, scene.shape, p.x * big, p.y * big, radius, p.angle)
    img.paste(scene.color_rgb, (0, 0, big, big), mask)
    return img.resize((size, size), Image.BOX)
