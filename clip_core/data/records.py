"""Core record types shared by every image source.

Public API
----------
- ``Example(id, image, label=None, caption=None, location="")``: one decoded example; ``image`` is
  an RGB ``PIL.Image.Image``; ``location`` says where it came from (a file path, or
  ``shard.tar:member``) so later stages can point back at it.
- ``SkipRecord(id, location, reason)``: an example that could not be read (corrupt image, missing
  file, sample without an image member, unreadable tar). Never fatal; collected in
  ``Shard.skipped`` and ``ImageSource.skipped``.
- ``Record(id, location, label, caption)``: the metadata of one example without its pixels
  (``Shard.records()``), used for id checks and label scans without decoding.
- ``DuplicateIdError(ValueError)``: two examples share an id; the message names both locations.
"""
from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass
class Example:
    """One example of an image source: id, RGB image, optional label and caption."""

    id: str
    image: Image.Image
    label: str | None = None
    caption: str | None = None
    location: str = ""


@dataclass(frozen=True)
class SkipRecord:
    """An example that was skipped, where it was, and why."""

    id: str
    location: str
    reason: str


@dataclass(frozen=True)
class Record:
    """Metadata of one example (no pixels)."""

    id: str
    location: str
    label: str | None = None
    caption: str | None = None


class DuplicateIdError(ValueError):
    """Two examples of one source share an id."""

    def __init__(self, example_id: str, first: str, second: str) -> None:
        super().__init__(
            f"duplicate id {example_id!r}: found at {first} and again at {second}; "
            "ids must be unique within a source"
        )
        self.example_id = example_id
        self.first = first
        self.second = second
