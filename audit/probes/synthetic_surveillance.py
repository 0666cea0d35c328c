"""Synthetic surveillance frames and their caption file (the documented format of ``surveillance_data``).

Each frame is a scene (parking lot, street or park background) with a car of one colour; a small
dark figure sits in the top-left corner of some frames. The true caption names scene and colour,
distractors name other scenes, near-miss distractors the same scene with another car colour, and
the fine-grained question asks about the corner figure (never mentioned in training captions).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from clip_core.atomic_files import atomic_write_text

SCENES = {"parking lot": (128, 128, 128), "street": (40, 40, 60), "park": (40, 150, 60)}
CAR_COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "yellow": (240, 220, 30), "white": (250, 250, 250)}
QUESTION = ("a person in the corner.", "no person in the corner.")


@dataclass(frozen=True)
class Frame:
    """One synthetic frame and what it shows."""

    image: Image.Image
    scene: str
    colour: str
    corner_person: bool


def caption(scene: str, colour: str) -> str:
    """The caption of a scene with a car of one colour."""
    return f"a {scene} with a {colour} car."


def draw_frame(scene: str, colour: str, corner_person: bool, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """Draw one frame: scene background with stripes, a car rectangle, optionally a corner figure."""
    image = Image.new("RGB", (size, size), SCENES[scene])
    draw = ImageDraw.Draw(image)
    for y in range(4, size, 8):
        draw.line((0, y, size, y), fill=tuple(min(255, c + 40) for c in SCENES[scene]))
    x, y = int(rng.integers(6, 14)), int(rng.integers(10, 18))
    draw.rectangle((x, y, x + 12, y + 7), fill=CAR_COLOURS[colour])
    if corner_person:
        draw.rectangle((1, 1, 3, 4), fill=(10, 10, 10))
    return image


def sample_frames(per_cell: int, seed: int) -> list[Frame]:
    """per_cell frames for every (scene, colour), the corner figure in about half of them."""
    rng = np.random.default_rng(seed)
    frames = []
    for scene in SCENES:
        for colour in CAR_COLOURS:
            for _ in range(per_cell):
                person = bool(rng.random() < 0.5)
                frames.append(Frame(draw_frame(scene, colour, person, rng), scene, colour, person))
    return frames


def write_surveillance_fixture(root: Path, frames: list[Frame], seed: int) -> Path:
    """Write frames/NNNN.png and captions.csv (long format: frame, sequence, kind, text, answer, negative)."""
    rng = np.random.default_rng(seed)
    (root / "frames").mkdir(parents=True, exist_ok=True)
    rows = []
    for number, frame in enumerate(frames):
        name = f"frames/{number:04d}.png"
        frame.image.save(root / name)
        sequence = f"seq_{list(SCENES).index(frame.scene) + 1:02d}"
        base = {"frame": name, "sequence": sequence, "answer": "", "negative": ""}
        rows.append({**base, "kind": "caption", "text": caption(frame.scene, frame.colour)})
        for other in SCENES:
            if other != frame.scene:
                for colour in rng.choice(list(CAR_COLOURS), 3, replace=False):
                    rows.append({**base, "kind": "distractor", "text": caption(other, str(colour))})
        near = [c for c in CAR_COLOURS if c != frame.colour]
        rows.append({**base, "kind": "near_miss", "text": caption(frame.scene, str(rng.choice(near)))})
        rows.append({**base, "kind": "question", "text": QUESTION[0], "negative": QUESTION[1],
                     "answer": "yes" if frame.corner_person else "no"})
    path = root / "captions.csv"
    atomic_write_text(path, pd.DataFrame(rows, columns=["frame", "sequence", "kind", "text", "answer", "negative"])
                      .drop_duplicates().to_csv(index=False))
    return path
