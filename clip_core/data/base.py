"""Abstract image sources and shards.

Public API
----------
- ``Shard``: the unit of work (one tar, or one slice of a folder/CSV/synthetic source).
  ``.name`` (stable, file-name safe), ``.location``, ``iter(shard)`` -> ``Example``,
  ``.records()`` -> ``Record`` without decoding pixels, ``.skipped`` (list of ``SkipRecord`` of
  the latest iteration), ``.set_decode_workers(n)``, ``.num_examples`` (int or None) and ``len(shard)`` where known.
- ``ImageSource``: ``.kind``, ``.location``, ``.shards()`` (cached list), ``iter(source)`` over
  all shards (raises ``DuplicateIdError`` when an id repeats across shards), ``len(source)`` where
  cheaply known (else ``TypeError``; ``.num_examples`` is then None), ``.skipped`` (all shards),
  ``.check_unique_ids()`` (scan ids without decoding), ``.set_draft_size(n)`` and
  ``.set_decode_workers(n)`` (decode JPEGs smaller, on n threads), ``.labels()`` (sorted distinct labels) and
  ``.classnames`` (labels known without a scan, else None).
- ``FileEntry`` / ``FileListShard``: a shard over image files on disk (folder and CSV sources).
- ``slice_entries(entries, slice_size)``: split a list into consecutive slices.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .imageio import ImageDecodeError, load_image_file
from .parallel_decode import ordered_map
from .records import DuplicateIdError, Example, Record, SkipRecord

T = TypeVar("T")

DEFAULT_SLICE_SIZE = 10_000


class Shard(ABC):
    """A unit of work of an image source; iterating yields decoded ``Example`` objects.

    ``draft_size`` (None: full decode) lets file and tar shards decode JPEGs at a reduced DCT scale
    that keeps both sides at least that many pixels; set it with ``ImageSource.set_draft_size``.
    ``decode_workers`` (default 1) is how many threads decode a file or tar shard's images, in
    order; set it with ``ImageSource.set_decode_workers``.
    """

    def __init__(self, name: str, location: str) -> None:
        self.name = name
        self.location = location
        self.skipped: list[SkipRecord] = []
        self.draft_size: int | None = None
        self.decode_workers: int = 1

    @property
    def num_examples(self) -> int | None:
        """Number of examples listed in this shard, or None when unknown without reading it."""
        return None

    def __len__(self) -> int:
        n = self.num_examples
        if n is None:
            raise TypeError(f"the length of shard {self.name} is not known without reading it")
        return n

    def __iter__(self) -> Iterator[Example]:
        self.skipped = []
        yield from self._iter_examples()

    def iter_selected(self, ids: Collection[str], draft_size: int | None = None) -> Iterator[Example]:
        """Decode only the examples whose id is in `ids` (a second pass over the shard, e.g. for verification).

        Unreadable selected examples are left out; ``skipped`` of the main iteration is kept as it was.
        File and tar shards read only the selected images; others decode everything and filter.
        """
        wanted = frozenset(ids)
        if not wanted:
            return
        kept, draft = self.skipped, self.draft_size
        self.draft_size = draft_size
        try:
            yield from self._iter_selected(wanted)
        finally:
            self.skipped, self.draft_size = kept, draft

    def _iter_selected(self, wanted: frozenset[str]) -> Iterator[Example]:
        """Examples whose id is wanted (default: decode all, filter)."""
        for example in self._iter_examples():
            if example.id in wanted:
                yield example

    def set_decode_workers(self, workers: int) -> "Shard":
        """Decode this shard's images on `workers` threads (order kept); returns self."""
        if workers < 1:
            raise ValueError(f"decode workers must be >= 1, got {workers}")
        self.decode_workers = workers
        return self

    def _skip(self, example_id: str, location: str, reason: str) -> None:
        """Record a skipped example."""
        self.skipped.append(SkipRecord(example_id, location, reason))

    @abstractmethod
    def _iter_examples(self) -> Iterator[Example]:
        """Yield decoded examples, calling ``_skip`` for unreadable ones."""

    @abstractmethod
    def records(self) -> Iterator[Record]:
        """Yield the metadata of every listed example without decoding images."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, location={self.location!r})"


def iter_unique_examples(shards: Iterable) -> Iterator[Example]:
    """Examples of the shards in order; an id seen twice raises DuplicateIdError naming both places."""
    seen: dict[str, str] = {}
    for shard in shards:
        for ex in shard:
            where = ex.location or shard.location
            first = seen.get(ex.id)
            if first is not None:
                raise DuplicateIdError(ex.id, first, where)
            seen[ex.id] = where
            yield ex


def skipped_in(shards: Iterable) -> list[SkipRecord]:
    """Every shard's skip records of its latest iteration."""
    return [record for shard in shards for record in shard.skipped]


class ImageSource(ABC):
    """A collection of examples split into shards."""

    kind: str = "abstract"

    def __init__(self, location: str) -> None:
        self.location = location
        self._shards: list[Shard] | None = None

    @abstractmethod
    def _make_shards(self) -> list[Shard]:
        """Build the shard list (called once)."""

    def shards(self) -> list[Shard]:
        """The shards of this source, in a stable order (the same objects on every call)."""
        if self._shards is None:
            self._shards = self._make_shards()
        return self._shards

    def __iter__(self) -> Iterator[Example]:
        return iter_unique_examples(self.shards())

    @property
    def num_examples(self) -> int | None:
        """Number of listed examples, or None when unknown without reading everything."""
        total = 0
        for shard in self.shards():
            n = shard.num_examples
            if n is None:
                return None
            total += n
        return total

    def __len__(self) -> int:
        n = self.num_examples
        if n is None:
            raise TypeError(
                f"the length of {self.kind} source {self.location} is not known without reading it"
            )
        return n

    @property
    def skipped(self) -> list[SkipRecord]:
        """Examples skipped during the latest iteration of each shard."""
        return skipped_in(self.shards())

    def set_draft_size(self, size: int | None) -> "ImageSource":
        """Decode JPEGs only as large as needed for `size` x `size` inputs (None: full decode); returns self."""
        if size is not None and size < 1:
            raise ValueError(f"draft size must be positive, got {size}")
        for shard in self.shards():
            shard.draft_size = size
        return self

    def set_decode_workers(self, workers: int) -> "ImageSource":
        """Decode each shard's images on `workers` threads (order kept); returns self."""
        for shard in self.shards():
            shard.set_decode_workers(workers)
        return self

    @property
    def classnames(self) -> list[str] | None:
        """Class labels known without a scan (folder, CSV, synthetic tasks), else None."""
        return None

    def records(self) -> Iterator[Record]:
        """Metadata of every example of every shard, without decoding."""
        for shard in self.shards():
            yield from shard.records()

    def check_unique_ids(self) -> int:
        """Scan all ids without decoding images; raise DuplicateIdError on a repeat; return count."""
        seen: dict[str, str] = {}
        for rec in self.records():
            first = seen.get(rec.id)
            if first is not None:
                raise DuplicateIdError(rec.id, first, rec.location)
            seen[rec.id] = rec.location
        return len(seen)

    def labels(self) -> list[str]:
        """Sorted distinct labels of the source (from ``classnames`` or a metadata scan)."""
        known = self.classnames
        if known is not None:
            return list(known)
        return sorted({r.label for r in self.records() if r.label is not None})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, location={self.location!r})"


@dataclass(frozen=True)
class FileEntry:
    """One image file listed by a folder or a CSV manifest."""

    id: str
    path: Path
    label: str | None = None
    caption: str | None = None
    where: str = ""  # human-readable origin (e.g. 'manifest.csv line 7'), defaults to path


class FileListShard(Shard):
    """A shard over a list of image files on disk."""

    def __init__(self, name: str, location: str, entries: Sequence[FileEntry]) -> None:
        super().__init__(name, location)
        self.entries = list(entries)

    @property
    def num_examples(self) -> int:
        """Number of listed files."""
        return len(self.entries)

    def _iter_examples(self, entries: Sequence[FileEntry] | None = None) -> Iterator[Example]:
        draft = self.draft_size
        listed = self.entries if entries is None else entries
        for e, image, exc in ordered_map(lambda entry: load_image_file(entry.path, draft), listed,
                                         self.decode_workers):
            if isinstance(exc, FileNotFoundError):
                self._skip(e.id, str(e.path), "file not found")
            elif isinstance(exc, (ImageDecodeError, OSError)):
                self._skip(e.id, str(e.path), f"unreadable image: {exc}")
            elif exc is not None:
                raise exc
            else:
                yield Example(e.id, image, e.label, e.caption, str(e.path))

    def _iter_selected(self, wanted: frozenset[str]) -> Iterator[Example]:
        """Only the wanted files are opened."""
        yield from self._iter_examples([e for e in self.entries if e.id in wanted])

    def records(self) -> Iterator[Record]:
        """Metadata of the listed files."""
        for e in self.entries:
            yield Record(e.id, e.where or str(e.path), e.label, e.caption)


def slice_entries(entries: Sequence[T], slice_size: int) -> list[Sequence[T]]:
    """Split ``entries`` into consecutive slices of at most ``slice_size`` items."""
    if slice_size <= 0:
        raise ValueError(f"slice_size must be positive, got {slice_size}")
    return [entries[i : i + slice_size] for i in range(0, len(entries), slice_size)]


class FileListSource(ImageSource):
    """A source whose images are a list of files (a folder or a manifest), cut into slices of shards."""

    entries: list[FileEntry]
    slice_size: int = DEFAULT_SLICE_SIZE

    def _set_entries(self, entries: list[FileEntry]) -> None:
        """Keep the listed files and their sorted distinct labels."""
        self.entries = entries
        self._classnames = sorted({e.label for e in entries if e.label is not None})

    @property
    def classnames(self) -> list[str] | None:
        """Sorted distinct labels (empty when no file has one)."""
        return list(self._classnames)

    def _make_shards(self) -> list[Shard]:
        return [
            FileListShard(f"slice-{i:05d}", self.location, chunk)
            for i, chunk in enumerate(slice_entries(self.entries, self.slice_size))
        ]

