"""A FairFace-format data set of abstract, procedurally drawn groups (never pictures of people).

"race" is one of seven abstract groups ``group_A`` .. ``group_G`` (background hue), "gender" one
of two kinds ``kind_X`` / ``kind_Y`` (a round or a square mark) and "age" one of three stages
``stage_1`` .. ``stage_3`` (the mark's size); position and colour are jittered per image. The
files follow the public layout: ``train/N.jpg``, ``val/N.jpg``, ``fairface_label_{train,val}.csv``
with header ``file,age,gender,race,service_test``, plus ``schema.json`` describing the groups.
"""
from __future__ import annotations

import colorsys
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from audit.probes.schema import Attribute, CategorySchema
from clip_core.atomic_files import atomic_write_text

IMAGE_SIZE = 32
GROUP_LETTERS = "ABCDEFG"
GROUP_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf")

FIXTURE_SCHEMA = CategorySchema(
    name="synthetic-groups",
    race=Attribute("race", tuple(f"group_{c}" for c in GROUP_LETTERS), GROUP_WORDS, "a photo of the {} group."),
    gender=Attribute("gender", ("kind_X", "kind_Y"), ("round", "square"), "a photo of a {} mark."),
    age=Attribute("age", ("stage_1", "stage_2", "stage_3"), ("small", "medium", "large"), "a photo of a {} figure."),
    reference_race="group_A",
)


@dataclass(frozen=True)
class GroupImage:
    """One drawn image and its attribute values."""

    image: Image.Image
    race: str
    gender: str
    age: str


def draw_group_image(race: str, gender: str, age: str, rng: np.random.Generator) -> Image.Image:
    """Draw one abstract image: hue by group, mark shape by kind, mark size by stage, with jitter."""
    hue = GROUP_LETTERS.index(race[-1]) / len(GROUP_LETTERS) + rng.uniform(-0.02, 0.02)
    value = rng.uniform(0.7, 0.95)
    background = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue % 1.0, 0.8, value))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    radius = (5, 8, 11)[int(age[-1]) - 1] + int(rng.integers(-1, 2))
    cx, cy = (IMAGE_SIZE // 2 + int(rng.integers(-3, 4)) for _ in range(2))
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    shade = int(rng.integers(225, 256)) if gender == "kind_X" else int(rng.integers(0, 30))
    fill = (shade, shade, shade)
    if gender == "kind_X":
        draw.ellipse(box, fill=fill)
    else:
        draw.rectangle(box, fill=fill)
    return image


def sample_group_images(per_cell: int, seed: int) -> list[GroupImage]:
    """per_cell images for every (group, kind, stage) cell, in a seeded shuffled order."""
    rng = np.random.default_rng(seed)
    items = [GroupImage(draw_group_image(r, g, a, rng), r, g, a)
             for r in FIXTURE_SCHEMA.race.values for g in FIXTURE_SCHEMA.gender.values
             for a in FIXTURE_SCHEMA.age.values for _ in range(per_cell)]
    order = rng.permutation(len(items))
    return [items[i] for i in order]


def write_fairface_split(root: Path, split: str, items: list[GroupImage]) -> Path:
    """Write split/N.jpg images and fairface_label_<split>.csv; return the label file."""
    (root / split).mkdir(parents=True, exist_ok=True)
    rows = []
    for number, item in enumerate(items, start=1):
        file = f"{split}/{number}.jpg"
        item.image.save(root / file, quality=95)
        rows.append({"file": file, "age": item.age, "gender": item.gender, "race": item.race,
                     "service_test": "True" if number % 2 else "False"})
    labels = root / f"fairface_label_{split}.csv"
    atomic_write_text(labels, pd.DataFrame(rows, columns=["file", "age", "gender", "race", "service_test"])
                      .to_csv(index=False))
    return labels


def write_schema(root: Path) -> Path:
    """Write the fixture's schema.json (read with ``audit.probes.schema.load_schema``)."""
    path = root / "schema.json"
    atomic_write_text(path, json.dumps(FIXTURE_SCHEMA.to_dict(), indent=2) + "\n")
    return path
