"""Folder of images: class sub-folders are ImageFolder labels; images at the top are unlabelled.

Public API
----------
- ``FolderSource(root, slice_size=10_000)``: ``kind == "folder"``. Files are found recursively
  (hidden files and folders ignored) and sorted; an example's id is its path relative to ``root``
  with forward slashes; its label is the first sub-folder name (None for images directly in
  ``root``); a sibling ``<stem>.txt`` file, if present, is its caption. Shards are slices named
  ``slice-00000``, ``slice-00001``, ...; ``classnames`` is the sorted list of labels.
"""
from __future__ import annotations

import os
from pathlib import Path

from .base import DEFAULT_SLICE_SIZE, FileEntry, FileListSource
from .imageio import is_image_file


def _read_caption(path: Path) -> str | None:
    """Caption from a sibling .txt file, if any."""
    txt = path.with_suffix(".txt")
    if txt.is_file():
        text = txt.read_text(encoding="utf-8", errors="replace").strip()
        return text or None
    return None


class FolderSource(FileListSource):
    """Images in a folder tree (ImageFolder layout or flat)."""

    kind = "folder"

    def __init__(self, root: str | os.PathLike[str], slice_size: int = DEFAULT_SLICE_SIZE) -> None:
        root_path = Path(root)
        if not root_path.exists():
            raise FileNotFoundError(f"image folder not found: {root_path}")
        if not root_path.is_dir():
            raise ValueError(f"not a folder: {root_path}")
        super().__init__(str(root_path))
        self.root = root_path
        self.slice_size = slice_size
        self._set_entries(self._scan())
        if not self.entries:
            raise ValueError(f"no images found in folder {root_path}")

    def _scan(self) -> list[FileEntry]:
        """List image files under the root in sorted order."""
        rels: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = os.path.relpath(dirpath, self.root)
            for fname in filenames:
                if fname.startswith(".") or not is_image_file(fname):
                    continue
                rel = fname if rel_dir == "." else os.path.join(rel_dir, fname)
                rels.append(rel.replace(os.sep, "/"))
        rels.sort()
        entries = []
        for rel in rels:
            parts = rel.split("/")
            label = parts[0] if len(parts) > 1 else None
            path = self.root / rel
            entries.append(FileEntry(rel, path, label, _read_caption(path), str(path)))
        return entries


