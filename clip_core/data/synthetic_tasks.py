"""Definitions of the synthetic zero-shot classification tasks.

Public API
----------
- ``SyntheticTaskSpec(name, attribute, classnames, templates, constraints, values)``.
- ``TASKS``: ``colors`` (10 classes: one large shape on a neutral background, colour dominant),
  ``shapes`` (8), ``counts`` (one..four small shapes), ``sizes`` (small/medium/large) and
  ``textures`` (background texture).
- ``get_task_spec(name) -> SyntheticTaskSpec``: accepts ``colors`` or ``synthetic:colors``.
- ``constraints_for(spec, class_index) -> SceneConstraints``: scene constraints of one class.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .synthetic_scene import (
    COLORS, COUNT_WORDS, COUNTS, NEUTRAL_BACKGROUNDS, SHAPES, SIZES, TEXTURES, SceneConstraints,
)


@dataclass(frozen=True)
class SyntheticTaskSpec:
    """A synthetic classification task: which attribute is the label, and the fixed rest."""

    name: str
    attribute: str  # SceneConstraints field that carries the label
    classnames: tuple[str, ...]
    templates: tuple[str, ...]
    constraints: SceneConstraints
    values: tuple  # attribute value of each class (same order as classnames)


TASKS: dict[str, SyntheticTaskSpec] = {
    "colors": SyntheticTaskSpec(
        name="colors",
        attribute="colors",
        classnames=tuple(COLORS),
        templates=(
            "a photo of a {} shape.",
            "a {} shape.",
            "a drawing of a {} object.",
            "an image with one large {} shape.",
            "a {} shape on a plain background.",
        ),
        constraints=SceneConstraints(counts=[1], sizes=["large"], backgrounds=list(NEUTRAL_BACKGROUNDS)),
        values=tuple(COLORS),
    ),
    "shapes": SyntheticTaskSpec(
        name="shapes",
        attribute="shapes",
        classnames=SHAPES,
        templates=(
            "a photo of a {}.",
            "a drawing of a {}.",
            "a single {}.",
            "a large {} on a background.",
        ),
        constraints=SceneConstraints(counts=[1], sizes=["medium", "large"], backgrounds=list(NEUTRAL_BACKGROUNDS)),
        values=SHAPES,
    ),
    "counts": SyntheticTaskSpec(
        name="counts",
        attribute="counts",
        classnames=tuple(COUNT_WORDS[c] for c in COUNTS),
        templates=(
            "a photo of {} shapes.",
            "a drawing of {} objects.",
            "an image with {} shapes.",
            "{} small shapes on a background.",
        ),
        constraints=SceneConstraints(sizes=["small"], backgrounds=list(NEUTRAL_BACKGROUNDS)),
        values=COUNTS,
    ),
    "sizes": SyntheticTaskSpec(
        name="sizes",
        attribute="sizes",
        classnames=tuple(SIZES),
        templates=("a photo of a {} shape.", "a {} object.", "a drawing of a {} shape."),
        constraints=SceneConstraints(counts=[1], backgrounds=list(NEUTRAL_BACKGROUNDS)),
        values=tuple(SIZES),
    ),
    "textures": SyntheticTaskSpec(
        name="textures",
        attribute="textures",
        classnames=TEXTURES,
        templates=("a shape on a {} background.", "a photo of a shape against a {} background."),
        constraints=SceneConstraints(counts=[1], sizes=["small", "medium"]),
        values=TEXTURES,
    ),
}


def get_task_spec(name: str) -> SyntheticTaskSpec:
    """The spec of a synthetic task, by name (with or without the ``synthetic:`` prefix)."""
    key = name.split(":", 1)[1] if name.startswith("synthetic:") else name
    if key not in TASKS:
        raise ValueError(f"unknown synthetic task {name!r}; known: {sorted(TASKS)}")
    return TASKS[key]


def constraints_for(spec: SyntheticTaskSpec, class_index: int) -> SceneConstraints:
    """Scene constraints that produce an image of class ``class_index`` of ``spec``."""
    return replace(spec.constraints, **{spec.attribute: [spec.values[class_index]]})
