"""A dense check for pairs that local features cannot decide (flat or repetitive images).

Keypoint verification needs distinctive keypoints; flat images, plain shapes on tiled or striped
backgrounds, and small synthetic pictures have too few of them (status ``fallback``), and on such
images the global descriptor alone confuses different pictures of the same kind. For those pairs
both images are reduced to `THUMB_SIDE`-pixel thumbnails (uniform-colour borders stripped first,
then squashed to a square like the detector's input) and the query is aligned to the reference:

1. **Starts.** The query is tried in the 8 orientations of the square (quarter turns, mirrored or
   not) and at 3 scales (the whole reference, or a window of 80% or 65% of its side placed by
   normalised cross-correlation, ``cv2.matchTemplate``); the `starts` best by correlation go on,
   and the whole unturned query and its mirror image always do.
2. **Refinement.** Each start is refined with OpenCV's enhanced correlation coefficient
   maximisation (Evangelidis and Psarakis, "Parametric image alignment using enhanced correlation
   coefficient maximization", PAMI 2008; ``cv2.findTransformECC``, affine motion). The start and
   its refinement are both kept as candidate alignments.
3. **Plausibility.** An alignment counts only when it is the shape of a copy: a scale within
   [1/`max_scale`, `max_scale`], at least `min_overlap` of the reference covered, and an anisotropy
   (ratio of singular values) of at most `max_anisotropy` when the stretch runs along the image axes
   (within `max_axis_offset_deg`, before or after the rotation: a crop of another aspect ratio, or an
   aspect change, squashed to the square thumbnail), else at most `max_oblique_anisotropy`. An affine warp is free to map one straight edge
   onto any other, so without these limits two unrelated two-tone images "align" with a correlation
   near 1 (measured in docs/verification.md).
4. **Verdict.** The gray-level Pearson correlation of the aligned pixels (invariant to brightness and
   contrast, so grayscale copies pass) must reach `min_correlation`. When the query has colour
   (mean channel spread at least `min_chroma`; a gray query may be a grayscale copy), the colours
   must agree too: the mean absolute RGB difference after one gain and offset shared by the
   channels, over all aligned pixels and over the reference's quarter least like its background
   (a shape on a plain background is mostly background), is at most `max_colour_difference`
   (a brightness change passes, a different hue of the same layout does not). The best plausible
   alignment is reported.

An alignment decides a copy (`DenseResult.is_copy`) only when the pair's global similarity reaches
the dense floor `min_similarity`, or when the alignment is exact (`DenseResult.strength`, the
correlation margin times the overlap, at least `exact_strength`): among flat images of one kind a
lookalike aligns nearly as well as a copy, and the global similarity tells them apart.

The same check gives a second look to pairs that keypoint geometry rejected although their global
similarity is high (at least ``rescue_floor``): smooth or blurred copies often keep too few
keypoint matches for a transform, while their thumbnails still align exactly.

Thumbnails are ``uint8`` RGB, 12 KB each.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

from detector.borders import strip_border

THUMB_SIDE = 64
THUMBNAIL_FORMAT = "borders-stripped-v2"  # what `thumbnail` stores; a folder written otherwise is rebuilt
WINDOW_SCALES = (1.0, 0.8, 0.65)


@dataclass(frozen=True)
class DenseConfig:
    """Alignment starts, ECC settings, the plausible shapes of a copy and the correlation it must reach."""

    min_correlation: float = 0.98
    min_overlap: float = 0.3  # the aligned query must cover this share of the reference thumbnail
    max_anisotropy: float = 1.45  # a stretch along the image axes (a crop or aspect change, squashed)
    max_oblique_anisotropy: float = 1.15  # a stretch in any other direction
    max_axis_offset_deg: float = 10.0
    max_scale: float = 2.0
    max_colour_difference: float = 0.06  # two colour images: mean RGB difference after a shared gain and offset
    min_chroma: float = 0.04  # below this mean channel spread an image counts as gray
    rescue_floor: float = 0.8  # geometrically rejected pairs at or above this global similarity get a second look
    min_similarity: float = 0.7  # a dense agreement below this global similarity is not a copy (rejected)...
    exact_strength: float = 0.9  # ...unless it is exact: strength at least this (correlation ~0.998 over 90%)
    starts: int = 3
    iterations: int = 60
    epsilon: float = 1e-4
    blur: int = 5

    def __post_init__(self) -> None:
        if not -1.0 < self.min_correlation < 1.0:
            raise ValueError(f"DenseConfig.min_correlation must be in (-1, 1), got {self.min_correlation}")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError(f"DenseConfig.min_overlap must be in (0, 1], got {self.min_overlap}")
        if not 1.0 <= self.max_oblique_anisotropy <= self.max_anisotropy or self.max_scale <= 1.0:
            raise ValueError("DenseConfig needs 1 <= max_oblique_anisotropy <= max_anisotropy and max_scale > 1")
        if self.starts < 1:
            raise ValueError(f"DenseConfig.starts must be at least 1, got {self.starts}")
        if not 0.0 < self.exact_strength <= 1.0:
            raise ValueError(f"DenseConfig.exact_strength must be in (0, 1], got {self.exact_strength}")
        if not (-1.0 <= self.min_similarity <= 1.0 and -1.0 <= self.rescue_floor <= 1.0):
            raise ValueError(f"DenseConfig.min_similarity and rescue_floor must be in [-1, 1], got {self.min_similarity}, {self.rescue_floor}")


@dataclass(frozen=True)
class DenseResult:
    """The best plausible alignment: gray correlation, overlap, orientation (quarter turns, mirrored) and shape."""

    correlation: float
    mirrored: bool
    overlap: float
    quarter_turns: int = 0
    scale: float = math.nan
    anisotropy: float = math.nan
    colour_difference: float = math.nan  # nan when the query is (nearly) gray: only the gray levels are compared

    def passes(self, config: DenseConfig) -> bool:
        """True when a plausible alignment makes the gray levels (and, for a colour query, the colours) agree."""
        colours_agree = math.isnan(self.colour_difference) or self.colour_difference <= config.max_colour_difference
        return self.correlation >= config.min_correlation and self.overlap >= config.min_overlap and colours_agree

    def strength(self, config: DenseConfig) -> float:
        """Agreement in [0, 1] (the dense counterpart of a verification score): correlation margin x overlap.

        The margin is how far the correlation lies between `min_correlation` (0) and 1 (1); a copy
        aligns almost exactly over most of the reference, a lookalike just passes over a window.
        """
        margin = (self.correlation - config.min_correlation) / (1.0 - config.min_correlation)
        return float(np.clip(margin, 0.0, 1.0) * np.clip(self.overlap, 0.0, 1.0))

    def is_copy(self, config: DenseConfig, similarity: float) -> bool:
        """Whether the alignment decides a copy: it passes, and the global similarity reaches the dense floor or it is exact."""
        if not self.passes(config):
            return False
        return similarity >= config.min_similarity or self.strength(config) >= config.exact_strength


NO_ALIGNMENT = DenseResult(-1.0, False, 0.0)


def thumbnail(image: Image.Image) -> np.ndarray:
    """(THUMB_SIDE, THUMB_SIDE, 3) uint8 RGB thumbnail: uniform borders stripped, squashed to a square."""
    pixels = strip_border(np.asarray(image.convert("RGB")))
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR),
                      dtype=np.uint8)


def _gray(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(pixels.astype(np.float32) / 255.0, cv2.COLOR_RGB2GRAY)


def _oriented(gray: np.ndarray, k: int) -> np.ndarray:
    """Orientation k of 0..7: k % 4 quarter turns counter-clockwise, of the mirror image when k >= 4."""
    return np.ascontiguousarray(np.rot90(gray[:, ::-1] if k >= 4 else gray, k % 4))


def _standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-6)


def _starts(query: np.ndarray, reference: np.ndarray, count: int) -> list[tuple[int, np.ndarray]]:
    """The `count` best (orientation, warp) starts by normalised cross-correlation of blurred thumbnails."""
    side = reference.shape[0]
    blurred_reference = cv2.GaussianBlur(reference, (5, 5), 0)
    found = []
    for k in range(8):
        q = cv2.GaussianBlur(_oriented(query, k), (5, 5), 0)
        for scale in WINDOW_SCALES:
            n = max(8, int(round(side * scale)))
            if n == side:
                ncc, (x, y) = float((_standardised(q) * _standardised(blurred_reference)).mean()), (0, 0)
            else:
                small = cv2.resize(q, (n, n), interpolation=cv2.INTER_AREA)
                _, ncc, _, (x, y) = cv2.minMaxLoc(cv2.matchTemplate(blurred_reference, small, cv2.TM_CCOEFF_NORMED))
            f = side / n  # the warp maps reference pixels to query pixels, as ECC's does
            found.append((float(ncc), k, np.array([[f, 0, -x * f], [0, f, -y * f]], np.float32)))
    found.sort(key=lambda item: -item[0])
    chosen = [(k, warp) for _, k, warp in found[:count]]
    for k in (0, 4):  # the unturned query and its mirror image, whole, are always tried
        if not any(j == k and warp[0, 0] == 1.0 for j, warp in chosen):
            chosen.append((k, np.eye(2, 3, dtype=np.float32)))
    return chosen


def _axis_offset_deg(vector: np.ndarray) -> float:
    """How far (degrees, 0-45) a direction lies from the nearest image axis."""
    angle = math.degrees(math.atan2(float(vector[1]), float(vector[0]))) % 90.0
    return min(angle, 90.0 - angle)


def _shape(warp: np.ndarray) -> tuple[float, float, float]:
    """(scale, anisotropy, axis offset) of a warp's linear part.

    The axis offset is how far the stretch directions lie from the image axes, before or after the
    rotation (the smaller of the two): an aspect change of a copy stretches along the image axes.
    """
    u, singular, vt = np.linalg.svd(warp[:, :2].astype(np.float64))
    offset = min(_axis_offset_deg(u[:, 0]), _axis_offset_deg(vt[0]))
    return float(math.sqrt(singular[0] * singular[1])), float(singular[0] / max(singular[1], 1e-12)), offset


def plausible(scale: float, anisotropy: float, axis_offset: float, config: "DenseConfig") -> bool:
    """Whether an alignment has the shape of a copy: bounded scale; stretched only along the image axes."""
    if not 1.0 / config.max_scale <= scale <= config.max_scale:
        return False
    limit = config.max_anisotropy if axis_offset <= config.max_axis_offset_deg else config.max_oblique_anisotropy
    return anisotropy <= limit


def _warped(query: np.ndarray, reference: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the query warped onto the reference's pixels, the mask of reference pixels it fully covers)."""
    size = (reference.shape[1], reference.shape[0])
    flags = cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP
    aligned = cv2.warpAffine(np.ascontiguousarray(query), warp, size, flags=flags)
    return aligned, cv2.warpAffine(np.ones(query.shape[:2], np.float32), warp, size, flags=flags) > 0.99


def _measure(query: np.ndarray, reference: np.ndarray, warp: np.ndarray) -> tuple[float, float]:
    """(gray correlation, overlap) of the query warped onto the reference."""
    aligned, mask = _warped(query, reference, warp)
    overlap = float(mask.mean())
    a, b = aligned[mask], reference[mask]
    if len(a) < 16 or a.std() < 1e-6 or b.std() < 1e-6:
        return (1.0 if len(a) >= 16 and a.std() < 1e-6 and b.std() < 1e-6 else 0.0), overlap
    return float(np.corrcoef(a, b)[0, 1]), overlap


def _refined(query: np.ndarray, reference: np.ndarray, warp: np.ndarray, config: DenseConfig) -> np.ndarray | None:
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, config.iterations, config.epsilon)
    try:
        _, out = cv2.findTransformECC(reference, query, warp.copy(), cv2.MOTION_AFFINE, criteria, None, config.blur)
    except cv2.error:
        return None
    return out


def dense_check(query: np.ndarray, reference: np.ndarray, config: DenseConfig = DenseConfig()) -> DenseResult:
    """Align the query thumbnail to the reference thumbnail (orientations, windows, ECC); the best plausible alignment."""
    cv2.setNumThreads(1)
    q_gray, r_gray = _gray(query), _gray(reference)
    best, best_warp = NO_ALIGNMENT, None
    for k, start in _starts(q_gray, r_gray, config.starts):
        oriented = _oriented(q_gray, k)
        refined = _refined(oriented, r_gray, start, config)
        for warp in [start] + ([refined] if refined is not None else []):
            scale, anisotropy, axis_offset = _shape(warp)
            if not plausible(scale, anisotropy, axis_offset, config):
                continue
            correlation, overlap = _measure(oriented, r_gray, warp)
            if overlap < config.min_overlap:
                continue
            if correlation > best.correlation:
                best = DenseResult(correlation, k >= 4, overlap, k % 4, scale, anisotropy)
                best_warp = warp
    if best is NO_ALIGNMENT or not _chromatic(query, config):  # a gray query may be a grayscale copy
        return best
    aligned_colour = _oriented(query.astype(np.float32) / 255.0, best.quarter_turns + (4 if best.mirrored else 0))
    return replace(best, colour_difference=_colour_difference(aligned_colour, reference.astype(np.float32) / 255.0, best_warp))


def _chromatic(pixels: np.ndarray, config: DenseConfig) -> bool:
    """Whether an image has colour (mean spread of its channels, 0-1 scale, at least `config.min_chroma`)."""
    values = pixels.astype(np.float32) / 255.0
    return float((values.max(axis=2) - values.min(axis=2)).mean()) >= config.min_chroma


def _colour_difference(query: np.ndarray, reference: np.ndarray, warp: np.ndarray) -> float:
    """Mean absolute RGB difference (0-1) of the aligned pixels after one gain and offset shared by the channels.

    A shared gain forgives brightness and contrast changes, not a change of hue: two pictures of one
    layout in different colours stay apart (the demo's `colors` task is made of such pictures).
    """
    aligned, mask = _warped(query, reference, warp)
    x, y = aligned[mask].ravel(), reference[mask].ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = np.abs(design @ coefficients - y).reshape(-1, 3).mean(axis=1)
    gray = reference[mask].mean(axis=1)
    salient = np.abs(gray - np.median(gray))
    salient = salient >= np.quantile(salient, 0.75)  # the reference's least background-like pixels
    return float(max(residual.mean(), residual[salient].mean()))


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


def _format_file(directory: Path) -> Path:
    return directory / "thumbnail_format.json"


def _current(directory: Path) -> bool:
    """Whether `directory` holds finished thumbnails written by this version of `thumbnail`."""
    marker = _format_file(directory)
    if not (directory / "thumbnail_ids.txt").is_file() or not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")) == {"format": THUMBNAIL_FORMAT, "side": THUMB_SIDE}
    except ValueError:
        return False


def build_thumbnails(images: Iterable[tuple[str, Image.Image]], directory: Path) -> Thumbnails:
    """Write (once) the thumbnails of every (id, image) into `directory` and open them; older formats are rebuilt."""
    from clip_core.atomic_files import atomic_write_text

    directory = Path(directory)
    if not _current(directory):
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
        atomic_write_text(_format_file(directory), json.dumps({"format": THUMBNAIL_FORMAT, "side": THUMB_SIDE}))
    return Thumbnails(directory)
