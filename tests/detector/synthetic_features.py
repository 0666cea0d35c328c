"""Local features built by hand (no SIFT): matched keypoints under a known shift, optional repeated twins."""
from __future__ import annotations

import numpy as np

from detector.verify import DESCRIPTOR_SCALE, LocalFeatures, VerifyConfig, count_distinctive

CONFIG = VerifyConfig()


def unit_descriptors(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random unit vectors with non-negative components (like RootSIFT)."""
    d = np.abs(rng.normal(size=(n, 128)))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def quantised(d: np.ndarray) -> np.ndarray:
    """Unit descriptors stored the way LocalFeatures keeps them (x DESCRIPTOR_SCALE, uint8)."""
    return np.clip(np.round(d * DESCRIPTOR_SCALE), 0, 255).astype(np.uint8)


def twins_of(rng: np.random.Generator, d: np.ndarray, distance: float) -> np.ndarray:
    """Descriptors about `distance` (unit RootSIFT) from each of `d`."""
    noise = rng.normal(size=d.shape)
    noise -= (noise * d).sum(1, keepdims=True) * d  # orthogonal to d
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    twin = np.abs(d + distance * noise)
    return twin / np.linalg.norm(twin, axis=1, keepdims=True)


def features(points: np.ndarray, descriptors: np.ndarray, config: VerifyConfig = CONFIG) -> LocalFeatures:
    """LocalFeatures of a 256 x 256 image with these keypoints and unit descriptors."""
    q = quantised(descriptors)
    return LocalFeatures(points.astype(np.float32), q, 256, 256, count_distinctive(q, config.distinct_distance))


def world(with_twins: bool, n: int = 20, seed: int = 0) -> tuple[LocalFeatures, LocalFeatures]:
    """A query whose n matched keypoints are a shifted copy of the reference's; the reference may repeat them."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.linspace(30, 200, 5), np.linspace(30, 200, 4)), -1).reshape(-1, 2)[:n]
    grid = grid + rng.uniform(-4, 4, grid.shape)
    matched, extra_q, extra_r = unit_descriptors(rng, n), unit_descriptors(rng, 40), unit_descriptors(rng, 40)
    spots_q, spots_r = rng.uniform(10, 240, (40, 2)), rng.uniform(10, 240, (40, 2))
    ref_points, ref_desc = [grid, spots_r], [matched, extra_r]
    if with_twins:  # one period (14 px) to the right, every matched element has a near twin
        ref_points.append(grid + [14.0, 0.0])
        ref_desc.append(twins_of(rng, matched, 0.3))
    reference = features(np.concatenate(ref_points), np.concatenate(ref_desc))
    query = features(np.concatenate([grid + [9.0, 5.0], spots_q]), np.concatenate([matched, extra_q]))
    return query, reference
