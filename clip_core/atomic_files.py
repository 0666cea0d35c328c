"""Atomic file writes: write to a temporary file in the same folder, then rename into place."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_torch_save(obj: object, path: Path) -> None:
    """torch.save to path atomically."""
    import torch

    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a parquet file atomically."""
    with atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False)
