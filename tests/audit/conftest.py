"""Fixtures for the overlap tests: planted near-duplicate descriptors among distractors."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of a matrix."""
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def write_embed_layout(folder: Path, ids: list[str], descriptors: np.ndarray, shard_size: int | None = None) -> Path:
    """Write descriptors in the `clip-audit embed` layout (one pair, or numbered pairs)."""
    folder.mkdir(parents=True, exist_ok=True)
    if shard_size is None:
        np.save(folder / "descriptors.npy", descriptors)
        (folder / "ids.txt").write_text("\n".join(ids) + "\n")
        return folder
    for number, start in enumerate(range(0, len(ids), shard_size)):
        np.save(folder / f"descriptors-{number:05d}.npy", descriptors[start:start + shard_size])
        (folder / f"ids-{number:05d}.txt").write_text("\n".join(ids[start:start + shard_size]) + "\n")
    return folder


@dataclass
class PlantedWorld:
    """Two evaluation sets and a sharded pre-training set with known planted copies."""

    eval_dirs: dict[str, Path]
    pretraining_dir: Path
    planted: set[tuple[str, str, str]]  # (dataset, eval_id, pretraining_id)
    root: Path


@pytest.fixture(scope="session")
def planted_world(tmp_path_factory: pytest.TempPathFactory) -> PlantedWorld:
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("planted")
    dim = 32
    eval_dirs, planted, pre_ids, pre_vectors = {}, set(), [], []
    for name, size in (("cifar", 60), ("birds", 40)):
        vectors = unit_rows(rng.normal(size=(size, dim)))
        ids = [f"{name}_{i:03d}" for i in range(size)]
        eval_dirs[name] = write_embed_layout(root / f"eval_{name}", ids, vectors)
        for i in rng.choice(size, size // 5, replace=False):
            copy_id = f"copy_{name}_{i:03d}"
            pre_ids.append(copy_id)
            pre_vectors.append(vectors[i] + 0.15 * rng.normal(size=dim) / np.sqrt(dim))
            planted.add((name, ids[i], copy_id))
    distractors = unit_rows(rng.normal(size=(400, dim)))
    pre_ids += [f"web_{i:04d}" for i in range(len(distractors))]
    pre_vectors = np.vstack([unit_rows(np.array(pre_vectors)), distractors])
    order = rng.permutation(len(pre_ids))
    pretraining = write_embed_layout(
        root / "pretraining", [pre_ids[i] for i in order], pre_vectors[order], shard_size=64
    )
    return PlantedWorld(eval_dirs, pretraining, planted, root)
