"""A dense check for pairs that local features cannot decide (flat or repetitive images).

Keypoint verification needs distinctive keypoints; flat images, plain shapes on tiled or striped
backgrounds, and small synthetic pictures have too few of them (status ``fallback``), and on such
images the global descriptor alone confuses different pictures of the same kind. For those pairs
both images are reduced to `THUMB_SIDE`-pixel thumbnails, the query is aligned to the reference
with OpenCV's enhanced correlation coefficient maximisation (Evangelidis and Psarakis, "Parametric
image alignment using enhanced correlation coefficient maximization", PAMI 2008;
``cv2.findTransformECC``, affine motion, from the identity and on the mirror image), and the
colour correlation of the aligned pixels decides: a copy re-aligns almost exactly (correlation
near 1 after a crop, a rescale, colour jitter or JPEG), a different picture does not.

The same check gives a second look to pairs that keypoint geometry rejected although their global
similarity is high (at least ``rescue_floor``): smooth or blurred copies often keep too few
keypoint matches for a transform, while their thumbnails still align exactly.

Thumbnails are squashed to a square (like the detector's input), ``uint8`` RGB, 12 KB each.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

THUMB_SIDE = 64


@dataclass(frozen=True)
class DenseConfig:
    """ECC settings and the correlation a copy must reach after alignment."""

    min_correlation: float = 0.9
    max_difference: float = 0.08  # mean absolute colour difference of the aligned pixels, on a 0-1 scale
    min_overlap: float = 0.5  # the aligned query must cover this share of the reference thumbnail
    rescue_floor: float = 0.8  # geometrically rejected pairs at or above this global similarity get a second look
    iterations: int = 60
    epsilon: float = 1e-4
    blur: int = 5

    def __post_init__(self) -> None:
        if not -1.0 < self.min_correlation < 1.0:
            raise ValueError(f"DenseConfig.min_correlation must be in (-1, 1), got {self.min_correlation}")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError(f"DenseConfig.min_overlap must be in (0, 1], got {self.min_overlap}")


@dataclass(frozen=True)
class DenseResult:
    """Correlation and mean colour difference of the aligned pixels, mirror used or not, and the overlap."""

    correlation: float
    difference: float
    mirrored: bool
    overlap: float

    def passes(self, config: DenseConfig) -> bool:
        """True when the aligned images agree like a copy: same structure (correlation) and same colours."""
        return (self.correlation >= config.min_correlation and self.difference <= config.max_difference
                and self.overlap >= config.min_overlap)


def thumbnail(image: Image.Image) -> np.ndarray:
    """(THUMB_SIDE, THUMB_SIDE, 3) uint8 RGB thumbnail, squashed to a square."""
    return np.asarray(image.convert("RGB").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR), dtype=np.uint8)


def _correlation(aligned: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Mean over the colour channels of the Pearson correlation on the masked pixels."""
    values = []
    for channel in range(3):
        a, b = aligned[..., channel][mask], reference[..., channel][mask]
        a, b = a - a.mean(), b - b.mean()
        denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
        # a flat channel on both sides agrees perfectly; flat on one side only does not
        values.append(1.0 if denominator == 0 and a.std() == b.std() == 0 else (float((a * b).sum()) / denominator if denominator else 0.0))
    return float(np.mean(values))


def _align(query: np.ndarray, reference: np.ndarray, config: DenseConfig) -> tuple[float, float, float]:
    """(correlation, colour difference, overlap) of the query aligned to the reference (-1, 1, 0 when ECC fails)."""
    q = query.astype(np.float32) / 255.0
    r = reference.astype(np.float32) / 255.0
    q_gray, r_gray = cv2.cvtColor(q, cv2.COLOR_RGB2GRAY), cv2.cvtColor(r, cv2.COLOR_RGB2GRAY)
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, config.iterations, config.epsilon)
    try:
        _, warp = cv2.findTransformECC(r_gray, q_gray, warp, cv2.MOTION_AFFINE, criteria, None, config.blur)
    except cv2.error:
        return -1.0, 1.0, 0.0
    size = (reference.shape[1], reference.shape[0])
    flags = cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP
    aligned = cv2.warpAffine(q, warp, size, flags=flags)
    mask = cv2.warpAffine(np.ones(q.shape[:2], np.float32), warp, size, flags=flags) > 0.99
    overlap = float(mask.mean())
    if overlap == 0.0:
        return -1.0, 1.0, 0.0
    return _correlation(aligned, r, mask), float(np.abs(aligned[mask] - r[mask]).mean()), overlap


def dense_check(query: np.ndarray, reference: np.ndarray, config: DenseConfig = DenseConfig()) -> DenseResult:
    """Align the query thumbnail (and its mirror image) to the reference thumbnail; keep the better."""
    cv2.setNumThreads(1)
    correlation, difference, overlap = _align(query, reference, config)
    best = DenseResult(correlation, difference, False, overlap)
    if not best.passes(config):
        correlation, difference, overlap = _align(query[:, ::-1].copy(), reference, config)
        mirrored = DenseResult(correlation, difference, True, overlap)
        if mirrored.passes(config) or (correlation - difference) > (best.correlation - best.difference):
            best = mirrored
    return best


class Thumbnails:
    """Thumbnails of one image set, saved as ``thumbnails.npy`` (memory-mapped) with ``thumbnail_ids.txt``."""

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        self.directory = directory
        self.array = np.load(directory / "thumbnails.npy", mmap_mode="r")
        ids = (directory / "thumbnail_ids.txt").read_text(encoding="utf-8").splitlines()
        if len(ids) != len(self.array):
            raise ValueError(f"{directory}: {len(ids)} thumbnail ids for {len(self.array)} thumbnails; remove both files")
        self.index = {item: row for row, item in enumerate(ids)}

    def __reduce__(self) -> tuple:
        """Pickled as its folder (an engine's worker maps the file again instead of copying it)."""
        return (Thumbnails, (self.directory,))

    def get(self, item_id: str) -> np.ndarray | None:
        """The thumbnail of one image, or None when it is not stored."""
        row = self.index.get(item_id)
        return None if row is None else np.asarray(self.array[row])


def build_thumbnails(images: Iterable[tuple[str, Image.Image]], directory: Path) -> Thumbnails:
    """Write (once) the thumbnails of every (id, image) into `directory` and open them."""
    from pathlib import Path

    from clip_core.atomic_files import atomic_write_text

    directory = Path(directory)
    if not (directory / "thumbnail_ids.txt").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        ids, rows = [], []
        for item_id, image in images:
            ids.append(item_id)
            rows.append(thumbnail(image))
        array = np.stack(rows) if rows else np.zeros((0, THUMB_SIDE, THUMB_SIDE, 3), np.uint8)
        tmp = directory / "thumbnails.npy.tmp"
        with tmp.open("wb") as handle:
            np.save(handle, array)
        tmp.replace(directory / "thumbnails.npy")
        atomic_write_text(directory / "thumbnail_ids.txt", "".join(f"{i}\n" for i in ids))
    return Thumbnails(directory)
