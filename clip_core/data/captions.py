"""(image, caption) pairs for CLIP training and retrieval evaluation.

Captions come from the CSV ``caption`` column, WebDataset/img2dataset ``.txt`` members (or json
``caption``, or the img2dataset parquet ``caption``), sibling ``.txt`` files in folders, or the
synthetic stream.

Public API
----------
- ``CaptionPairs(source)``: iterating yields ``Example`` objects whose ``caption`` is set;
  examples without a caption are skipped and recorded (reason ``"no caption"``) in ``skipped``
  together with the source's own skips. ``shards()`` -> list of ``CaptionShard`` (same names as
  the source's shards). ``len()`` where the source knows its length (an upper bound when some
  captions are missing).
- ``open_captions(location, format=None, *, slice_size=10_000) -> CaptionPairs``; a CSV manifest
  must have a ``caption`` column (ValueError naming the file otherwise). ``synthetic`` opens the
  training stream (``synthetic?n=...`` for its length).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

from .base import DEFAULT_SLICE_SIZE, ImageSource, Shard, iter_unique_examples, skipped_in
from .csv_source import CsvSource
from .records import Example, SkipRecord
from .sources import open_source


class CaptionShard:
    """A shard of a caption source that yields only captioned examples."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.name = shard.name
        self.location = shard.location
        self.no_caption: list[SkipRecord] = []

    def __iter__(self) -> Iterator[Example]:
        self.no_caption = []
        for ex in self.shard:
            if not ex.caption:
                self.no_caption.append(SkipRecord(ex.id, ex.location or self.location, "no caption"))
                continue
            yield ex

    @property
    def skipped(self) -> list[SkipRecord]:
        """Unreadable and caption-less examples of the latest iteration."""
        return list(self.shard.skipped) + list(self.no_caption)


class CaptionPairs:
    """Captioned examples of an image source."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source
        self._shards: list[CaptionShard] | None = None

    def shards(self) -> list[CaptionShard]:
        """Caption-filtering wrappers of the source's shards."""
        if self._shards is None:
            self._shards = [CaptionShard(s) for s in self.source.shards()]
        return self._shards

    def __iter__(self) -> Iterator[Example]:
        if getattr(self.source, "length", 0) is None:  # endless synthetic stream
            yield from self.source
            return
        yield from iter_unique_examples(self.shards())

    def __len__(self) -> int:
        return len(self.source)

    @property
    def skipped(self) -> list[SkipRecord]:
        """Examples skipped in the latest iteration (unreadable or without caption)."""
        return skipped_in(self.shards())


def open_captions(
    location: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002
    *,
    slice_size: int = DEFAULT_SLICE_SIZE,
) -> CaptionPairs:
    """Open (image, caption) pairs from any source."""
    source = open_source(location, format, slice_size=slice_size)
    if isinstance(source, CsvSource) and all(e.caption is None for e in source.entries):
        raise ValueError(f"{source.path}: CSV manifest has no 'caption' column (or all captions are empty)")
    if source.kind == "synthetic" and not hasattr(source, "plant"):
        raise ValueError(f"{location}: a synthetic classification task is not a caption source; use 'synthetic'")
    return CaptionPairs(source)
