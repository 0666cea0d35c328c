"""Precomputed descriptors on disk, read shard by shard.

Two layouts are accepted:

- the output of `clip-audit embed`: ``descriptors.npy`` + ``ids.txt`` (row i is line i), or numbered
  pairs ``descriptors-00000.npy`` / ``ids-00000.txt`` for sources too large for one file;
- clip-retrieval's layout: ``img_emb/img_emb_<n>.npy`` with row-aligned
  ``metadata/metadata_<n>.parquet``; the id is the ``key`` column, else ``image_path``, else ``url``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

_ID_COLUMNS = ("key", "id", "image_path", "url")


@dataclass(frozen=True)
class DescriptorShard:
    """One file's worth of descriptors: a stable name, the ids and the (n, d) float32 matrix."""

    name: str
    ids: list[str]
    descriptors: np.ndarray


def is_descriptor_dir(path: Path) -> bool:
    """Whether path is a folder of precomputed descriptors in a known layout."""
    path = Path(path)
    return path.is_dir() and (
        (path / "descriptors.npy").is_file()
        or any(path.glob("descriptors-*.npy"))
        or (path / "img_emb").is_dir()
    )


def _load_matrix(path: Path) -> np.ndarray:
    """Load a 2-D descriptor matrix as float32, naming the file on bad content."""
    try:
        matrix = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npy descriptor file ({error})") from error
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"{path}: descriptors must be a 2-D (n, d) array, got shape {matrix.shape}")
    return np.array(matrix, dtype=np.float32, order="C")


def _read_ids(path: Path, rows: int, matrix_path: Path) -> list[str]:
    """Read one id per line and check the count against the matrix."""
    if not path.is_file():
        raise FileNotFoundError(f"ids file not found for {matrix_path}: {path}")
    ids = path.read_text(encoding="utf-8").splitlines()
    if len(ids) != rows:
        raise ValueError(f"{path}: {len(ids)} ids but {matrix_path} has {rows} rows")
    return ids


def _embed_layout(root: Path) -> Iterator[DescriptorShard]:
    """Shards of the `clip-audit embed` layout."""
    if (root / "descriptors.npy").is_file():
        matrix = _load_matrix(root / "descriptors.npy")
        yield DescriptorShard("descriptors", _read_ids(root / "ids.txt", len(matrix), root / "descriptors.npy"), matrix)
        return
    for matrix_path in sorted(root.glob("descriptors-*.npy")):
        suffix = matrix_path.stem.split("-", 1)[1]
        matrix = _load_matrix(matrix_path)
        yield DescriptorShard(matrix_path.stem, _read_ids(root / f"ids-{suffix}.txt", len(matrix), matrix_path), matrix)


def _clip_retrieval_layout(root: Path) -> Iterator[DescriptorShard]:
    """Shards of clip-retrieval's img_emb/ + metadata/ layout."""
    for matrix_path in sorted((root / "img_emb").glob("img_emb_*.npy")):
        number = re.sub(r"^img_emb_", "", matrix_path.stem)
        metadata_path = root / "metadata" / f"metadata_{number}.parquet"
        if not metadata_path.is_file():
            raise FileNotFoundError(f"metadata file not found for {matrix_path}: {metadata_path}")
        matrix = _load_matrix(matrix_path)
        metadata = pd.read_parquet(metadata_path)
        column = next((c for c in _ID_COLUMNS if c in metadata.columns), None)
        if column is None:
            raise ValueError(f"{metadata_path}: needs one of the id columns {list(_ID_COLUMNS)}")
        if len(metadata) != len(matrix):
            raise ValueError(f"{metadata_path}: {len(metadata)} rows but {matrix_path} has {len(matrix)}")
        yield DescriptorShard(matrix_path.stem, metadata[column].astype(str).tolist(), matrix)


def read_descriptor_shards(path: Path) -> Iterator[DescriptorShard]:
    """Iterate over the shards of a precomputed descriptor folder, in a stable order."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"descriptor folder not found: {root}")
    if not is_descriptor_dir(root):
        raise FileNotFoundError(f"{root}: no descriptors.npy, descriptors-*.npy or img_emb/ found")
    layout = _clip_retrieval_layout if (root / "img_emb").is_dir() else _embed_layout
    yield from layout(root)


def read_descriptor_set(path: Path, allow_empty: bool = False) -> DescriptorShard:
    """Read a whole (evaluation-sized) descriptor folder into one shard; ids must be unique."""
    shards = list(read_descriptor_shards(path))
    ids = [i for shard in shards for i in shard.ids]
    if not ids and not allow_empty:
        raise ValueError(f"{path}: the descriptor set is empty")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = sorted({i for i in ids if i in seen or seen.add(i)})[:5]
        raise ValueError(f"{path}: repeated ids {repeated}")
    dims = {shard.descriptors.shape[1] for shard in shards}
    if len(dims) > 1:
        raise ValueError(f"{path}: shards disagree on the descriptor dimension {sorted(dims)}")
    return DescriptorShard(Path(path).name, ids, np.concatenate([s.descriptors for s in shards]))
