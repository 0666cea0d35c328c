"""Command-line values checked where they are parsed: thresholds in their score's range, counts, probabilities.

Each validator is a typer callback (``callback=...``): a value out of range stops the command with
click's usage error naming the option, before any work starts. ``parse_thresholds`` turns repeated
``--threshold NAME=VALUE`` options into a mapping, refusing values the score cannot attain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import typer

from audit.contamination_inputs import parse_assignment


@dataclass(frozen=True)
class ScoreRange:
    """The closed interval a score can attain."""

    low: float
    high: float


OVERLAP_SCORE = ScoreRange(0.0, 1.0)  # the two-stage score of a verified overlap run
COSINE_SIMILARITY = ScoreRange(-1.0, 1.0)  # a global similarity: a table-mode similarity column, an unverified run's score


def overlap_score_range(verify: Optional[bool]) -> ScoreRange:
    """The range of an overlap run's score: two-stage when verifying, cosine without; both when unknown."""
    return OVERLAP_SCORE if verify else COSINE_SIMILARITY


def parse_thresholds(texts: Iterable[str], low: float, high: float, option: str = "--threshold") -> dict[str, float]:
    """Parse repeated NAME=VALUE options into {name: value}, each value a number in [low, high]."""
    thresholds: dict[str, float] = {}
    for text in texts:
        name, value = parse_assignment(text, option)
        try:
            number = float(value)
        except ValueError as error:
            raise ValueError(f"{option} {name}: {value!r} is not a number") from error
        if math.isnan(number) or not low <= number <= high:
            raise ValueError(f"{option} {name}={value}: the score it applies to lies in [{low:g}, {high:g}]")
        if name in thresholds:
            raise ValueError(f"{option} names dataset '{name}' twice")
        thresholds[name] = number
    return thresholds


def parse_score_thresholds(texts: Iterable[str], verify: Optional[bool]) -> dict[str, float]:
    """Parse --threshold NAME=VALUE options that apply to an overlap run's score (see `overlap_score_range`)."""
    score = overlap_score_range(verify)
    return parse_thresholds(texts, score.low, score.high)


def integer_range(minimum: int, maximum: Optional[int] = None) -> Callable[[Optional[int]], Optional[int]]:
    """A callback refusing integers below `minimum` or above `maximum` (None passes: the option was not given)."""

    def check(value: Optional[int]) -> Optional[int]:
        if value is not None and (value < minimum or (maximum is not None and value > maximum)):
            bound = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise typer.BadParameter(f"must be {bound}, got {value}")
        return value

    return check


def in_interval(low: float, high: float, low_open: bool, high_open: bool) -> Callable[[Optional[float]], Optional[float]]:
    """A callback refusing floats outside the interval from `low` to `high` (open or closed ends)."""
    text = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def check(value: Optional[float]) -> Optional[float]:
        if value is None:
            return value
        above_low = value > low if low_open else value >= low
        below_high = value < high if high_open else value <= high
        if math.isnan(value) or not (above_low and below_high):
            raise typer.BadParameter(f"must lie in {text}, got {value:g}")
        return value

    return check


positive_count = integer_range(1)
port_number = integer_range(0, 65535)
open_probability = in_interval(0.0, 1.0, low_open=True, high_open=True)  # a confidence level
precision_target = in_interval(0.0, 1.0, low_open=True, high_open=False)
similarity_value = in_interval(COSINE_SIMILARITY.low, COSINE_SIMILARITY.high, low_open=False, high_open=False)


def flag(default: bool, declaration: str, help: str = "") -> Any:  # noqa: A002 - typer's parameter name
    """A boolean `--name/--no-name` typer option without a value placeholder in --help."""
    if "/" not in declaration:
        raise ValueError(f"a boolean flag needs an on/off pair such as --serve/--no-serve, got {declaration!r}")
    return typer.Option(default, declaration, help=help, metavar="")
