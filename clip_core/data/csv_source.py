"""CSV manifest of image files.

Public API
----------
- ``CsvSource(path, slice_size=10_000)``: ``kind == "csv"``. The manifest needs a ``path`` column;
  ``id``, ``label`` and ``caption`` are optional (empty cells mean absent). Relative paths are
  resolved against the CSV's folder. An example's id is its ``id`` cell, else its ``path`` cell
  (forward slashes). Duplicate ids raise ``DuplicateIdError`` naming both lines. Files that are
  missing or unreadable are skipped at iteration time and recorded in ``skipped``. Shards are
  slices named ``slice-00000``, ...; ``classnames`` is the sorted list of distinct labels.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .base import DEFAULT_SLICE_SIZE, FileEntry, FileListSource
from .records import DuplicateIdError


def _cell(row: dict[str, str], column: str) -> str | None:
    """A stripped cell value, or None if the column is absent or the cell empty."""
    value = row.get(column)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


class CsvSource(FileListSource):
    """Images listed in a CSV manifest."""

    kind = "csv"

    def __init__(self, path: str | os.PathLike[str], slice_size: int = DEFAULT_SLICE_SIZE) -> None:
        csv_path = Path(path)
        if not csv_path.is_file():
            raise FileNotFoundError(f"CSV manifest not found: {csv_path}")
        super().__init__(str(csv_path))
        self.path = csv_path
        self.slice_size = slice_size
        self._set_entries(self._read())

    def _read(self) -> list[FileEntry]:
        """Parse and validate the manifest."""
        try:
            frame = pd.read_csv(self.path, dtype=str, keep_default_na=False, na_filter=False)
        except pd.errors.EmptyDataError as exc:
            raise ValueError(f"{self.path}: CSV manifest is empty") from exc
        frame.columns = [str(c).strip() for c in frame.columns]
        if "path" not in frame.columns:
            raise ValueError(
                f"{self.path}: CSV manifest has no 'path' column (columns: {list(frame.columns)})"
            )
        if len(frame) == 0:
            raise ValueError(f"{self.path}: CSV manifest has no rows")
        base = self.path.parent
        entries: list[FileEntry] = []
        seen: dict[str, int] = {}
        for i, row in enumerate(frame.to_dict("records")):
            line = i + 2  # header is line 1
            raw_path = _cell(row, "path")
            if raw_path is None:
                raise ValueError(f"{self.path} line {line}: empty 'path' field")
            norm = raw_path.replace("\\", "/")
            example_id = _cell(row, "id") or norm
            if example_id in seen:
                raise DuplicateIdError(
                    example_id, f"{self.path} line {seen[example_id]}", f"{self.path} line {line}"
                )
            seen[example_id] = line
            file_path = Path(norm)
            if not file_path.is_absolute():
                file_path = base / file_path
            entries.append(
                FileEntry(
                    example_id,
                    file_path,
                    _cell(row, "label"),
                    _cell(row, "caption"),
                    f"{self.path} line {line}",
                )
            )
        return entries


