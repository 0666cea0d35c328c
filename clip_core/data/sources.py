"""Open any image source by location: folder, CSV manifest, WebDataset, img2dataset, synthetic.

Public API
----------
- ``open_source(location, format=None, *, slice_size=10_000) -> ImageSource``.
  ``location`` is a folder, a ``.csv`` file, a ``.tar`` file, a directory of ``.tar`` shards, a
  brace/glob pattern such as ``shards/{00000..00099}.tar``, or ``synthetic[:task][?n=&seed=&size=]``.
  ``format`` (one of ``FORMATS``: ``folder``, ``csv``, ``webdataset`` (alias ``wds``/``tar``),
  ``img2dataset``, ``synthetic``) overrides detection. ``slice_size`` sets the examples per shard
  of folder, CSV and synthetic sources.
- ``detect_format(location) -> str``: the kind ``open_source`` would choose.
- ``SourceConfig(location, format=None, slice_size=10_000)`` + ``SourceConfig.open()``.
- Re-exported: ``ImageSource``, ``Shard``, ``Example``, ``SkipRecord``, ``Record``,
  ``DuplicateIdError``.

Detection: ``synthetic...`` -> synthetic; a brace/glob pattern or a ``.tar`` file or a directory
holding ``.tar`` files -> ``img2dataset`` when every tar has a sibling ``.parquet``, else
``webdataset``; a ``.csv`` file -> csv; a directory holding images -> folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .base import DEFAULT_SLICE_SIZE, ImageSource, Shard
from .braces import expand_shard_pattern, has_pattern
from .csv_source import CsvSource
from .folder_source import FolderSource
from .imageio import is_image_file
from .records import DuplicateIdError, Example, Record, SkipRecord
from .synthetic import open_synthetic
from .tar_source import Img2DatasetSource, WebDatasetSource

__all__ = [
    "FORMATS", "SourceConfig", "open_source", "detect_format", "ImageSource", "Shard", "Example",
    "SkipRecord", "Record", "DuplicateIdError",
]

FORMATS: tuple[str, ...] = ("folder", "csv", "webdataset", "img2dataset", "synthetic")
_FORMAT_ALIASES = {"wds": "webdataset", "tar": "webdataset", "imagefolder": "folder",
                   "image_folder": "folder", "manifest": "csv"}


def _normalise_format(fmt: str | None) -> str | None:
    """Canonical format name, or ValueError naming the known formats."""
    if fmt is None:
        return None
    key = fmt.strip().lower()
    key = _FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown source format {fmt!r}; known: {list(FORMATS)} (aliases {sorted(_FORMAT_ALIASES)})")
    return key


def _tar_list(location: str) -> list[Path]:
    """The tar files a location names (pattern, single tar, or directory of tars)."""
    if has_pattern(location) and not os.path.exists(location):
        return [p for p in expand_shard_pattern(location)]
    p = Path(location)
    if not p.exists():
        raise FileNotFoundError(f"source not found: {location}")
    if p.is_file():
        return [p]
    tars = sorted(q for q in p.iterdir() if q.is_file() and q.name.endswith(".tar"))
    if not tars:
        raise ValueError(f"no .tar shards found in {location}")
    return tars


def _is_img2dataset(tars: list[Path]) -> bool:
    """Whether every tar has a sibling parquet file."""
    return bool(tars) and all(t.with_suffix(".parquet").is_file() for t in tars)


def _has_images(root: Path) -> bool:
    """Whether a folder tree holds at least one image file."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(is_image_file(f) and not f.startswith(".") for f in filenames):
            return True
    return False


def detect_format(location: str | os.PathLike[str]) -> str:
    """The source kind for a location, detected from what it holds."""
    text = os.fspath(location)
    if text.startswith("synthetic"):
        return "synthetic"
    if has_pattern(text) and not os.path.exists(text):
        tars = expand_shard_pattern(text)
        non_tar = [t for t in tars if not t.name.endswith(".tar")]
        if non_tar:
            raise ValueError(f"pattern {text!r} names files that are not .tar shards: {non_tar[:3]}")
        return "img2dataset" if _is_img2dataset(tars) else "webdataset"
    p = Path(text)
    if not p.exists():
        raise FileNotFoundError(f"source not found: {text}")
    if p.is_file():
        name = p.name.lower()
        if name.endswith(".csv"):
            return "csv"
        if name.endswith(".tar"):
            return "img2dataset" if _is_img2dataset([p]) else "webdataset"
        raise ValueError(f"cannot tell the kind of source {text}: expected a .csv or .tar file, a folder or a pattern")
    tars = sorted(q for q in p.iterdir() if q.is_file() and q.name.endswith(".tar"))
    if tars:
        return "img2dataset" if _is_img2dataset(tars) else "webdataset"
    if _has_images(p):
        return "folder"
    raise ValueError(f"source {text} is empty: no images, .tar shards or patterns found")


def open_source(
    location: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - the documented option name
    *,
    slice_size: int = DEFAULT_SLICE_SIZE,
) -> ImageSource:
    """Open an image source; the kind is detected unless ``format`` is given."""
    text = os.fspath(location)
    kind = _normalise_format(format) or detect_format(text)
    if kind == "synthetic":
        return open_synthetic(text, slice_size=slice_size)
    if kind == "folder":
        return FolderSource(text, slice_size=slice_size)
    if kind == "csv":
        return CsvSource(text, slice_size=slice_size)
    tars = _tar_list(text)
    if kind == "img2dataset":
        return Img2DatasetSource(tars, text)
    return WebDatasetSource(tars, text)


@dataclass(frozen=True)
class SourceConfig:
    """Where an image source is and how to read it."""

    location: str
    format: str | None = None
    slice_size: int = DEFAULT_SLICE_SIZE

    def open(self) -> ImageSource:
        """Open the configured source."""
        return open_source(self.location, self.format, slice_size=self.slice_size)
