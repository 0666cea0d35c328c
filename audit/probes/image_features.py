"""Image embeddings for the probes: missing or corrupt images are skipped and counted, never fatal.

With a cache folder and a model key (the weights hash) the features are stored in
``<cache>/features-<key>.npz`` after encoding and reused by later runs on the same images (same
paths, sizes and modification times) with the same model, so a rerun or another probe on the
same split skips the encoding.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from clip_core.atomic_files import atomic_path
from clip_core.data.imageio import ImageDecodeError, load_image_file


@dataclass(frozen=True)
class ImageFeatures:
    """Unnormalised image features of the readable images, their row positions and the skipped ones."""

    features: np.ndarray  # [n_kept, D], float32
    kept: np.ndarray  # positions (into the requested paths) of the rows of `features`
    skipped: tuple[tuple[str, str], ...]  # (path, reason)

    @property
    def normalized(self) -> np.ndarray:
        """L2-normalised rows."""
        norms = np.linalg.norm(self.features, axis=1, keepdims=True)
        return self.features / np.maximum(norms, 1e-12)


def cache_key(model_key: str, paths: Sequence[Path]) -> str:
    """Hash of the model key and every path with its size and modification time (None if absent)."""
    entries = []
    for path in paths:
        try:
            stat = os.stat(path)
            entries.append([str(path), stat.st_size, stat.st_mtime_ns])
        except FileNotFoundError:
            entries.append([str(path), None, None])
    return hashlib.sha256(json.dumps([model_key, entries]).encode()).hexdigest()[:24]


def _read_cache(path: Path) -> ImageFeatures:
    with np.load(path, allow_pickle=False) as data:
        skipped = tuple(zip(data["skipped_paths"].tolist(), data["skipped_reasons"].tolist()))
        return ImageFeatures(features=data["features"], kept=data["kept"], skipped=skipped)


def _write_cache(path: Path, encoded: ImageFeatures) -> None:
    paths = [p for p, _ in encoded.skipped]
    reasons = [r for _, r in encoded.skipped]
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, features=encoded.features, kept=encoded.kept,
                 skipped_paths=np.array(paths, dtype=str), skipped_reasons=np.array(reasons, dtype=str))


def encode_image_files(model, paths: Sequence[Path], batch_size: int = 64, desc: str = "images",
                       progress: bool = True, cache_dir: str | None = None,
                       model_key: str | None = None) -> ImageFeatures:
    """Embed image files (reusing a cached result when cache_dir and model_key are given)."""
    if not paths:
        raise ValueError("no images to encode")
    if cache_dir is None or model_key is None:
        return _encode(model, paths, batch_size, desc, progress)
    path = Path(cache_dir) / f"features-{cache_key(model_key, paths)}.npz"
    if path.is_file():
        return _read_cache(path)
    encoded = _encode(model, paths, batch_size, desc, progress)
    _write_cache(path, encoded)
    return encoded


@torch.no_grad()
def _encode(model, paths: Sequence[Path], batch_size: int, desc: str, progress: bool) -> ImageFeatures:
    """Embed image files with `model` (eval mode); unreadable files are skipped with their reason."""
    transform = model.preprocess(train=False)
    device = model.logit_scale.device
    was_training = model.training
    model.eval()
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    chunks: list[np.ndarray] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        if batch:
            chunks.append(model.encode_image(torch.stack(batch).to(device)).float().cpu().numpy())
            batch.clear()

    try:
        for position, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=not progress, leave=False)):
            try:
                image = load_image_file(path)
            except (FileNotFoundError, ImageDecodeError) as error:
                skipped.append((str(path), "missing" if isinstance(error, FileNotFoundError) else str(error)))
                continue
            batch.append(transform(image))
            kept.append(position)
            if len(batch) >= batch_size:
                flush()
        flush()
    finally:
        model.train(was_training)
    if not kept:
        reasons = sorted({reason for _, reason in skipped})[:3]
        raise ValueError(f"none of the {len(paths)} images could be read (first: {skipped[0][0]}; reasons {reasons})")
    return ImageFeatures(features=np.concatenate(chunks).astype(np.float32), kept=np.asarray(kept, dtype=np.int64),
                         skipped=tuple(skipped))
