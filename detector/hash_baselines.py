"""Perceptual-hash baselines (imagehash): pHash, dHash, aHash, wHash, scored as negative Hamming distance."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
from PIL import Image

HASH_METHODS = ("phash", "dhash", "ahash", "whash")


def _hash_function(method: str) -> Callable[[Image.Image], object]:
    try:
        import imagehash
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("hash baselines need the `imagehash` package (pip install imagehash)") from exc
    table = {"phash": imagehash.phash, "dhash": imagehash.dhash, "ahash": imagehash.average_hash,
             "whash": imagehash.whash}
    if method not in table:
        raise ValueError(f"unknown hash method {method!r}; known: {', '.join(HASH_METHODS)}")
    return table[method]


def hash_images(images: Iterable[Image.Image], method: str) -> np.ndarray:
    """64-bit hashes of the images, one packed row of 8 bytes per image."""
    fn = _hash_function(method)
    rows = [np.packbits(np.asarray(fn(img.convert("RGB")).hash, dtype=bool).ravel()) for img in images]
    return np.stack(rows) if rows else np.zeros((0, 8), dtype=np.uint8)


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int16)


def hamming_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances (Nq, Nr) between packed hashes."""
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(f"packed hashes must be (N, B) arrays of equal B, got {queries.shape} and {references.shape}")
    x = np.bitwise_xor(queries[:, None, :], references[None, :, :])
    return _POPCOUNT[x].sum(axis=-1)


def hash_scores(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Similarity scores (higher = more similar): minus the Hamming distance."""
    return -hamming_distances(queries, references).astype(np.float32)
