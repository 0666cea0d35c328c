"""Loud failures for sources that yield too little: nothing readable, or too many unreadable items.

A corrupt image is skipped and counted, never fatal on its own; but a run that read nothing, or in
which more than ``max_skipped_fraction`` of the items were unreadable, has measured something
other than its input and must not end as a success. ``check_readable`` raises
``TooManySkipped`` with the counts in both cases.
"""
from __future__ import annotations

DEFAULT_MAX_SKIPPED_FRACTION = 0.01


class TooManySkipped(ValueError):
    """A source yielded nothing readable, or more unreadable items than the run allows."""


def validate_fraction(value: float, option: str = "--max-skipped-fraction") -> float:
    """The fraction itself when it lies in [0, 1], else a ValueError naming the option."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{option} must lie in [0, 1], got {value}")
    return value


def skipped_fraction(read: int, skipped: int) -> float:
    """Unreadable items as a fraction of all items met (0 when there were none)."""
    total = read + skipped
    return skipped / total if total else 0.0


def check_readable(read: int, skipped: int, max_skipped_fraction: float, what: str, where: str = "") -> None:
    """Raise TooManySkipped when nothing was read or the skipped fraction exceeds the limit."""
    validate_fraction(max_skipped_fraction)
    see = f"; see {where}" if where else ""
    if read == 0:
        raise TooManySkipped(f"{what}: nothing readable: 0 items read, {skipped} unreadable{see}")
    fraction = skipped_fraction(read, skipped)
    if fraction > max_skipped_fraction:
        raise TooManySkipped(
            f"{what}: {skipped} of {read + skipped} items unreadable ({fraction:.1%}), more than "
            f"--max-skipped-fraction {max_skipped_fraction:g} allows{see}; fix the source, or rerun with a larger "
            f"--max-skipped-fraction to accept the loss (finished work is reused)"
        )
