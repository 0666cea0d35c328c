"""The demographic attributes a FairFace-format label file holds, their allowed values and prompt names.

``FAIRFACE_SCHEMA`` is the public FairFace release (Kärkkäinen & Joo 2021, "FairFace: face attribute
dataset for balanced race, gender, and age", WACV): race (7), gender (2), age (9 bins), spelled
exactly as in ``fairface_label_{train,val}.csv``. Prompt names and templates follow DataComp's
FairFace task (Gadre et al. 2023). Other schemas (the synthetic fixture's abstract groups) are read
from a JSON file with the same fields (``load_schema``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ATTRIBUTES = ("race", "gender", "age")


@dataclass(frozen=True)
class Attribute:
    """One grouping column: its values as spelled in the data and the names used in prompts."""

    name: str
    values: tuple[str, ...]
    prompt_names: tuple[str, ...]
    template: str

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"attribute {self.name}: no values")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"attribute {self.name}: duplicate values")
        if len(self.prompt_names) != len(self.values):
            raise ValueError(f"attribute {self.name}: {len(self.values)} values but "
                             f"{len(self.prompt_names)} prompt names")
        if "{}" not in self.template:
            raise ValueError(f"attribute {self.name}: template {self.template!r} has no '{{}}' slot")

    def prompt_name(self, value: str) -> str:
        """The prompt name of one value."""
        return self.prompt_names[self.values.index(value)]

    def prompts(self) -> list[str]:
        """One filled prompt per value, in value order."""
        return [self.template.format(name) for name in self.prompt_names]


@dataclass(frozen=True)
class CategorySchema:
    """race, gender and age attributes plus the reference race of the binary split (White vs Non-White)."""

    name: str
    race: Attribute
    gender: Attribute
    age: Attribute
    reference_race: str

    def __post_init__(self) -> None:
        if self.reference_race not in self.race.values:
            raise ValueError(f"schema {self.name}: reference_race {self.reference_race!r} is not a race value")

    def attribute(self, name: str) -> Attribute:
        """The attribute called `name` (race, gender or age)."""
        if name not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {name!r}; expected one of {ATTRIBUTES}")
        return getattr(self, name)

    @property
    def binary_attribute(self) -> str:
        """Name of the derived reference-vs-rest attribute, e.g. 'White vs Non-White'."""
        return f"{self.reference_race} vs Non-{self.reference_race}"

    @property
    def binary_groups(self) -> tuple[str, str]:
        """The two groups of the derived binary attribute."""
        return self.reference_race, f"Non-{self.reference_race}"

    def to_dict(self) -> dict:
        """JSON form (the format `load_schema` reads)."""
        return {"name": self.name, "reference_race": self.reference_race,
                **{a: {"values": list(self.attribute(a).values), "prompt_names": list(self.attribute(a).prompt_names),
                       "template": self.attribute(a).template} for a in ATTRIBUTES}}


FAIRFACE_SCHEMA = CategorySchema(
    name="fairface",
    race=Attribute("race", ("White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian",
                            "Middle Eastern"),
                   ("white", "black", "latino/hispanic", "east asian", "southeast asian", "indian",
                    "middle eastern"), "a photo of a {} person."),
    gender=Attribute("gender", ("Male", "Female"), ("man", "woman"), "a photo of a {}."),
    age=Attribute("age", ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"),
                  ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "over 70"),
                  "a photo of a person {} years old."),
    reference_race="White",
)


def schema_from_dict(data: dict, source: str = "schema") -> CategorySchema:
    """Build a schema from its JSON form; ValueError naming `source` and the field when malformed."""
    try:
        attributes = {a: Attribute(a, tuple(data[a]["values"]), tuple(data[a]["prompt_names"]), data[a]["template"])
                      for a in ATTRIBUTES}
        return CategorySchema(name=str(data["name"]), reference_race=str(data["reference_race"]), **attributes)
    except KeyError as error:
        raise ValueError(f"{source}: missing field {error}") from error
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: {error}") from error


def load_schema(path: Path | None) -> CategorySchema:
    """The schema in a JSON file, or FairFace's when `path` is None."""
    if path is None:
        return FAIRFACE_SCHEMA
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"category schema not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    return schema_from_dict(data, str(path))
