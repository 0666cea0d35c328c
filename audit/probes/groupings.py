"""The groupings rates are disaggregated by: race, gender, age, the binary race split and race x gender."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from audit.probes.schema import ATTRIBUTES, CategorySchema

RACE_GENDER = "race_gender"
RACE_GENDER_SEPARATOR = "|"


@dataclass(frozen=True)
class Grouping:
    """One attribute's group label per image and the order its groups are reported in."""

    attribute: str
    groups: tuple[str, ...]  # one per image
    order: tuple[str, ...]


def groupings(table: pd.DataFrame, schema: CategorySchema, derived: bool = True) -> list[Grouping]:
    """race, gender, age and (when `derived`) '<ref> vs Non-<ref>' and race_gender ('White|Male') groupings."""
    result = [Grouping(name, tuple(table[name]), schema.attribute(name).values) for name in ATTRIBUTES]
    if derived:
        reference, rest = schema.binary_groups
        binary = tuple(reference if race == reference else rest for race in table["race"])
        result.append(Grouping(schema.binary_attribute, binary, (reference, rest)))
        cells = tuple(f"{r}{RACE_GENDER_SEPARATOR}{g}" for r, g in zip(table["race"], table["gender"]))
        order = tuple(f"{r}{RACE_GENDER_SEPARATOR}{g}" for r in schema.race.values for g in schema.gender.values)
        result.append(Grouping(RACE_GENDER, cells, order))
    return result
