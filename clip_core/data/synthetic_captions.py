"""Natural-language captions for synthetic scenes.

Every caption names the colour, and (except for a small share that says "shape"/"object") the
shape and the count; size, position and background are mentioned some of the time. The phrasing
is drawn from several templates with the same ``random.Random`` as the scene.

Public API
----------
- ``caption_scene(scene, rng) -> str``: e.g. "a photo of two small red circles on a striped
  pale blue background."
- ``article(word) -> str``: "a" or "an" for the following word.
"""
from __future__ import annotations

import random

from .synthetic_scene import COUNT_WORDS, PLURALS, Scene

_TEXTURE_WORDS = {
    "plain": ("plain", ""),
    "striped": ("striped",),
    "dotted": ("dotted", "polka-dot"),
    "checkered": ("checkered",),
}

_TEMPLATES = (
    "a photo of {np}{pos}{bg}.",
    "{np}{pos}{bg}",
    "a drawing of {np}{pos}{bg}.",
    "an image with {np}{pos}{bg}.",
    "there {be} {np}{pos}{bg}.",
    "a picture showing {np}{pos}.",
    "a simple illustration of {np}{bg}.",
    "{np}{bg}, {pos_alone}",
)


def article(word: str) -> str:
    """Indefinite article for ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _noun_phrase(scene: Scene, rng: random.Random) -> str:
    """Count + (size) + colour + shape noun."""
    generic = rng.random() < 0.1
    if scene.count == 1:
        noun = rng.choice(("shape", "object")) if generic else scene.shape
    else:
        noun = rng.choice(("shapes", "objects")) if generic else PLURALS[scene.shape]
    words = []
    if rng.random() < 0.6:
        words.append(scene.size)
    words.append(scene.color)
    words.append(noun)
    body = " ".join(words)
    if scene.count == 1:
        det = rng.choice(("one", "a single", article(body), article(body)))
        return f"{det} {body}"
    return f"{COUNT_WORDS[scene.count]} {body}"


def _background_phrase(scene: Scene, rng: random.Random) -> str:
    """' on a striped gray background' (or empty)."""
    if rng.random() < 0.3:
        return ""
    tex = rng.choice(_TEXTURE_WORDS[scene.texture])
    desc = f"{tex} {scene.background}".strip()
    prep = rng.choice(("on", "against"))
    return f" {prep} {article(desc)} {desc} background"


def caption_scene(scene: Scene, rng: random.Random) -> str:
    """A varied natural caption that mentions the scene's colour, shape and count."""
    template = rng.choice(_TEMPLATES)
    np_ = _noun_phrase(scene, rng)
    bg = _background_phrase(scene, rng)
    pos = f" {scene.position}" if scene.position and rng.random() < 0.5 else ""
    pos_alone = scene.position if scene.position else "scattered around"
    text = template.format(
        np=np_, pos=pos, bg=bg, be="is" if scene.count == 1 else "are", pos_alone=pos_alone
    )
    return " ".join(text.split())
