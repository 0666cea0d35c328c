"""Local-feature verification of a candidate pair (the second stage of copy detection).

A global descriptor proposes candidates; this module decides. Both images are reduced to gray,
resized so the longest side is `VerifyConfig.max_side` (small images are upscaled), contrast
stretched, and described by SIFT keypoints with RootSIFT descriptors (Lowe 2004; Arandjelović and
Zisserman 2012) quantised to uint8. A pair is matched by mutual nearest neighbours that pass Lowe's
ratio test in both directions, one match per keypoint location, and a 2-D affine transform is
estimated with OpenCV's USAC_MAGSAC (Barath et al. 2020) from the reference to the query, and from
the reference to the query's left-right mirror image (SIFT is not mirror-invariant; the mirror's
features are derived from the query's by mirroring the keypoints and permuting the descriptor bins,
`mirrored`, instead of a second SIFT pass).

Degenerate geometry does not count. The inliers of a transform are discarded (``inliers = 0``)
when the transform is implausible (a reflection, a scale outside ``[1/max_scale, max_scale]``, an
anisotropy above ``max_anisotropy``), and otherwise only inliers on distinct locations (one per
``cell`` pixels, on both sides) are counted; the survivors must also spread in two dimensions
(``min_spread``: the smaller singular value of the centred inlier coordinates, as a fraction of the
longest side; this rejects matches along one edge, line or border) and their convex hull must
cover ``min_coverage`` of each image. Fewer than ``repeated_min_inliers`` survivors whose median
reference keypoint has a near twin elsewhere in the reference (``twin_distances`` below
``repeated_distance``) lie on a repeated pattern and do not count. Keypoints within ``border_margin`` pixels of the image edge
are dropped at extraction. What these checks remove is measured in `bench/verify_calibration.py`
and docs/verification.md.

A pair is "verified" when at least ``min_inliers`` inliers survive, "rejected" when both images
have at least ``min_keypoints`` distinctive keypoints but fewer inliers survive, and "fallback" when
either image has fewer (flat, blank, tiny, unreadable, or made of one repeated motif such as a chess
board, tiles or the demo's dotted backgrounds): the global similarity then decides. A keypoint is
distinctive when no other descriptor of the same image lies within ``distinct_distance`` (unit
RootSIFT); repeated structure cannot pass the ratio test, so it can neither confirm nor refute a copy.

Scoring rule (`ScoreRule`): the global similarity g is first mapped onto the score scale by a
piecewise-linear map f that sends ``floor_similarity`` to 0, the detector's calibrated threshold
``global_threshold`` to ``threshold`` (`DEFAULT_SCORE_THRESHOLD`) and 1 to 1. Then

- not verified (``verification is None``) or "fallback": ``score = f(g)``;
- "rejected": ``score = rejected_ceiling * sigmoid(b0 + b_g g + b_c c + b_o o + b_m m)``, strictly
  below ``threshold`` whatever g is (`RejectedRanking`): how likely a pair that failed verification
  is a copy all the same, which orders the rejected pairs among themselves (µAP, recall at a
  precision) without deciding any; c and o are the correlation and overlap of the dense check's
  alignment (0 where it did not run) and m the pair's margin: g minus the global similarity of the
  query's next-best candidate (the ISC 2021 idea of normalising a score by the query's other
  neighbours: a copy stands out from its query's candidates, a lookalike does not);
- "verified": ``score = threshold + (1 - threshold) * ((1 - w) * f(g) + w * v)``, strictly above it,

where v is the verification score, ``inliers / (inliers + half_inliers)`` (0 with no inliers), and
w = ``verification_weight``. The score is in [0, 1] and non-decreasing in g, in the inliers and in the
margin (the ranking's coefficients are non-negative; they are fitted on the calibration set by
`bench/fit_rejected_ranking.py`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps

STATUSES = ("verified", "rejected", "fallback")
DESCRIPTOR_SCALE = 512.0  # RootSIFT components are <= 1 and typically < 0.3: x512, clipped at 255, keeps ~3 digits


@dataclass(frozen=True)
class VerifyConfig:
    """Settings of keypoint extraction, matching, robust estimation and the degeneracy checks."""

    max_side: int = 256
    max_keypoints: int = 256
    min_keypoints: int = 24
    ratio: float = 0.85
    distinct_distance: float = 0.35
    contrast_threshold: float = 0.02
    flat_std: float = 2.0
    border_margin: int = 4
    reprojection_threshold: float = 4.0
    max_iterations: int = 2000
    confidence: float = 0.999
    max_scale: float = 6.0
    max_anisotropy: float = 3.0
    cell: float = 4.0
    min_spread: float = 0.04
    min_coverage: float = 0.02
    min_inliers: int = 10
    half_inliers: float = 20.0
    repeated_distance: float = 0.42  # an inlier whose reference keypoint has a twin this close is on a repeated pattern
    repeated_min_inliers: int = 40  # a pair whose median inlier is on a repeated pattern needs this many inliers

    def __post_init__(self) -> None:
        if self.max_side < 32:
            raise ValueError(f"VerifyConfig.max_side must be >= 32, got {self.max_side}")
        if not 1 <= self.min_keypoints <= self.max_keypoints:
            raise ValueError(f"VerifyConfig needs 1 <= min_keypoints <= max_keypoints, got {self.min_keypoints}, {self.max_keypoints}")
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"VerifyConfig.ratio must be in (0, 1], got {self.ratio}")
        if self.min_inliers < 3:
            raise ValueError(f"VerifyConfig.min_inliers must be >= 3 (an affine transform has 3 points), got {self.min_inliers}")
        if self.max_scale <= 1.0 or self.max_anisotropy < 1.0:
            raise ValueError("VerifyConfig needs max_scale > 1 and max_anisotropy >= 1")
        if self.half_inliers <= 0:
            raise ValueError(f"VerifyConfig.half_inliers must be positive, got {self.half_inliers}")
        if self.repeated_distance < 0 or self.repeated_min_inliers < 0:
            raise ValueError("VerifyConfig.repeated_distance and repeated_min_inliers must be >= 0 (0 turns the rule off)")

    def to_dict(self) -> dict:
        """All fields as a JSON-friendly dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, values: dict) -> "VerifyConfig":
        """Rebuild from `to_dict` output; unknown keys are an error."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"VerifyConfig: unknown fields {sorted(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints (x, y in pixels of the resized image) and their quantised RootSIFT descriptors."""

    points: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int
    distinctive: int = -1  # keypoints without a near twin in the same image (-1: not counted yet)

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != 2 or self.descriptors.shape != (len(self.points), 128):
            raise ValueError(f"LocalFeatures needs points (n, 2) and descriptors (n, 128), got {self.points.shape}, {self.descriptors.shape}")

    def __len__(self) -> int:
        return len(self.points)

    def distinctive_count(self, config: VerifyConfig) -> int:
        """Keypoints whose nearest other descriptor in the same image is farther than `config.distinct_distance`."""
        if self.distinctive >= 0:
            return self.distinctive
        return count_distinctive(self.descriptors, config.distinct_distance)

    def usable(self, config: VerifyConfig) -> bool:
        """Whether there are enough distinctive keypoints to verify (else the pair falls back to the global score)."""
        return self.distinctive_count(config) >= config.min_keypoints

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalFeatures):
            return NotImplemented
        return (self.width, self.height) == (other.width, other.height) and np.array_equal(self.points, other.points) \
            and np.array_equal(self.descriptors, other.descriptors)

    __hash__ = None  # type: ignore[assignment]


def count_distinctive(descriptors: np.ndarray, distinct_distance: float) -> int:
    """How many descriptors have no other descriptor of the same image within `distinct_distance` (unit RootSIFT)."""
    if len(descriptors) < 2:
        return len(descriptors)
    d = descriptors.astype(np.float32) / DESCRIPTOR_SCALE
    squared = (d * d).sum(axis=1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * (d @ d.T)
    np.fill_diagonal(d2, np.inf)
    return int((d2.min(axis=1) > distinct_distance**2).sum())


def empty_features(width: int = 0, height: int = 0) -> LocalFeatures:
    """Features of an image without keypoints (flat, blank or unreadable)."""
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), width, height, 0)


_THREADS_SET = False


def _one_cv2_thread() -> None:
    global _THREADS_SET
    if not _THREADS_SET:
        cv2.setNumThreads(1)
        _THREADS_SET = True


def _gray_resized(image: Image.Image, max_side: int) -> np.ndarray:
    gray = np.asarray(image.convert("L"))
    h, w = gray.shape
    f = max_side / max(w, h)
    size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
    interpolation = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, size, interpolation=interpolation)


def _stretch(gray: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(gray, (1, 99))
    if hi - lo < 1:
        return gray
    return np.clip((gray.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _root_sift(descriptors: np.ndarray) -> np.ndarray:
    d = descriptors.astype(np.float32)
    d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
    return np.clip(np.round(np.sqrt(d) * DESCRIPTOR_SCALE), 0, 255).astype(np.uint8)


def _features_of_gray(gray: np.ndarray, config: VerifyConfig) -> LocalFeatures:
    h, w = gray.shape
    if min(w, h) < 8 or float(gray.std()) < config.flat_std:
        return empty_features(w, h)
    sift = cv2.SIFT_create(contrastThreshold=config.contrast_threshold)
    stretched = _stretch(gray)
    keypoints = sift.detect(stretched, None)
    if not keypoints:
        return empty_features(w, h)
    points = np.array([k.pt for k in keypoints], np.float32)
    response = np.array([k.response for k in keypoints], np.float32)
    m = config.border_margin
    inside = (points[:, 0] >= m) & (points[:, 0] <= w - 1 - m) & (points[:, 1] >= m) & (points[:, 1] <= h - 1 - m)
    chosen, seen = [], set()
    for i in np.argsort(-response, kind="stable"):  # one keypoint per location (SIFT repeats one per orientation)
        key = (int(points[i, 0] // 1.5), int(points[i, 1] // 1.5))
        if inside[i] and key not in seen:
            seen.add(key)
            chosen.append(keypoints[i])
        if len(chosen) == config.max_keypoints:
            break
    if not chosen:
        return empty_features(w, h)
    chosen, descriptors = sift.compute(stretched, chosen)  # describe only the kept keypoints: most of the cost
    if descriptors is None or not chosen:
        return empty_features(w, h)
    points = np.array([k.pt for k in chosen], np.float32)
    descriptors = _root_sift(descriptors)
    return LocalFeatures(points, descriptors, w, h, count_distinctive(descriptors, config.distinct_distance))


def extract_features(image: Image.Image, config: VerifyConfig = VerifyConfig()) -> LocalFeatures:
    """Keypoints and RootSIFT descriptors of an image; an unreadable image gives empty features."""
    _one_cv2_thread()
    try:
        gray = _gray_resized(image, config.max_side)
    except (OSError, ValueError, SyntaxError):
        return empty_features()
    return _features_of_gray(gray, config)


def sift_mirror_permutation() -> np.ndarray:
    """Index array p with descriptor_of_mirror = descriptor[p] for OpenCV's 4x4x8 SIFT layout.

    OpenCV orders a descriptor as (row bin, column bin, orientation bin) in the keypoint's rotated frame.
    A left-right mirror maps the keypoint angle a to 180 - a; in that frame the column axis (along the
    dominant orientation) is kept, the row axis (across it) is reversed, and a gradient at relative
    orientation o lands at -o, so orientation bin k goes to (8 - k) mod 8.
    """
    index = np.arange(128).reshape(4, 4, 8)
    return np.ascontiguousarray(index[::-1][:, :, (8 - np.arange(8)) % 8].reshape(128))


SIFT_MIRROR_PERMUTATION = sift_mirror_permutation()


def mirrored(features: LocalFeatures) -> LocalFeatures:
    """The features of the left-right mirror image, derived without a second SIFT pass (x -> W-1-x, bins permuted).

    RootSIFT and the uint8 quantisation act per component, so permuting the stored descriptors equals
    describing the mirror image; the distinctive count is unchanged (distances are preserved).
    """
    points = features.points.copy()
    points[:, 0] = features.width - 1 - points[:, 0]
    return LocalFeatures(points, np.ascontiguousarray(features.descriptors[:, SIFT_MIRROR_PERMUTATION]),
                         features.width, features.height, features.distinctive)


def mirror_features(image: Image.Image, config: VerifyConfig = VerifyConfig()) -> LocalFeatures:
    """Features of the left-right mirror image by a second SIFT pass (the reference that `mirrored` is checked against)."""
    _one_cv2_thread()
    try:
        gray = _gray_resized(image, config.max_side)
    except (OSError, ValueError, SyntaxError):
        return empty_features()
    return _features_of_gray(np.ascontiguousarray(gray[:, ::-1]), config)


def extract_with_mirror(image: Image.Image, config: VerifyConfig = VerifyConfig()) -> tuple[LocalFeatures, LocalFeatures]:
    """`extract_features` of one image and its mirror's features derived from them (one SIFT pass)."""
    features = extract_features(image, config)
    return features, mirrored(features)


# --- matching and geometry ---------------------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    """The verdict on one pair: status, surviving inliers, transform, coverage and the inlier points."""

    status: str
    inliers: int
    score: float
    mirrored: bool
    scale: float
    rotation_deg: float  # counter-clockwise on screen, like PIL's Image.rotate (of the mirrored reference if mirrored)
    coverage_query: float
    coverage_reference: float
    query_points: np.ndarray = field(repr=False)
    reference_points: np.ndarray = field(repr=False)
    matches: int = 0
    raw_inliers: int = 0
    anisotropy: float = math.nan
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verification.status must be one of {STATUSES}, got {self.status!r}")

    @property
    def verified(self) -> bool:
        """Whether the pair passed geometric verification."""
        return self.status == "verified"

    def to_row(self) -> dict:
        """Flat, CSV-friendly fields (no point arrays)."""
        return {"status": self.status, "verified": self.verified, "inliers": self.inliers, "score": self.score,
                "mirrored": self.mirrored, "scale": self.scale, "rotation_deg": self.rotation_deg,
                "coverage_query": self.coverage_query, "coverage_reference": self.coverage_reference,
                "matches": self.matches, "raw_inliers": self.raw_inliers, "anisotropy": self.anisotropy,
                "reason": self.reason}


def verification_score(inliers: int, config: VerifyConfig) -> float:
    """Verification strength in [0, 1): inliers / (inliers + half_inliers), non-decreasing in inliers."""
    return float(max(inliers, 0) / (max(inliers, 0) + config.half_inliers))


def _no_points() -> np.ndarray:
    return np.zeros((0, 2), np.float32)


def _outcome(status: str, config: VerifyConfig, reason: str, matches: int = 0, raw: int = 0, mirrored: bool = False,
             anisotropy: float = math.nan, scale: float = math.nan, rotation: float = math.nan,
             inliers: int = 0) -> Verification:
    return Verification(status, inliers, verification_score(inliers, config), mirrored, scale, rotation, 0.0, 0.0,
                        _no_points(), _no_points(), matches, raw, anisotropy, reason)


def mutual_ratio_matches(query: LocalFeatures, reference: LocalFeatures, ratio: float) -> np.ndarray:
    """(m, 2) index pairs (query, reference): mutual nearest neighbours passing the ratio test both ways."""
    if len(query) < 2 or len(reference) < 2:
        return np.zeros((0, 2), np.int64)
    q = query.descriptors.astype(np.float32)
    r = reference.descriptors.astype(np.float32)
    d2 = np.maximum((q * q).sum(1)[:, None] + (r * r).sum(1)[None, :] - 2.0 * (q @ r.T), 0.0)
    best_r = np.argmin(d2, axis=1)
    best_q = np.argmin(d2, axis=0)
    rows = np.arange(len(q))
    mutual = best_q[best_r] == rows
    two_r = np.partition(d2, 1, axis=1)[:, :2]
    two_q = np.partition(d2, 1, axis=0)[:2, :]
    r2 = ratio * ratio
    pass_q = two_r[:, 0] <= r2 * two_r[:, 1]
    pass_r = two_q[0, best_r] <= r2 * two_q[1, best_r]
    keep = mutual & pass_q & pass_r
    return np.stack([rows[keep], best_r[keep]], axis=1)


def twin_distances(features: LocalFeatures, indices: np.ndarray, min_separation: float = 3.0) -> np.ndarray:
    """RootSIFT distance from each chosen keypoint to its nearest twin elsewhere in the same image.

    Twins closer than `min_separation` pixels (the same spot at another orientation) do not count.
    On a repeated pattern (woven cloth, tiles, a symmetric facade) every element has a near twin, so
    a shift by one period still matches: the failure the ratio test does not catch on small images.
    """
    if len(features) < 2 or len(indices) == 0:
        return np.full(len(indices), np.inf)
    d = features.descriptors.astype(np.float32) / DESCRIPTOR_SCALE
    chosen = d[indices]
    d2 = (chosen * chosen).sum(1)[:, None] + (d * d).sum(1)[None, :] - 2.0 * (chosen @ d.T)
    apart = np.linalg.norm(features.points[indices][:, None, :] - features.points[None, :, :], axis=2) >= min_separation
    d2 = np.where(apart, d2, np.inf)
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def _distinct(query_pts: np.ndarray, reference_pts: np.ndarray, cell: float) -> np.ndarray:
    """Indices of points that occupy a query cell and a reference cell no earlier point occupies."""
    seen_q, seen_r, keep = set(), set(), []
    for i, (q, r) in enumerate(zip(query_pts, reference_pts)):
        kq = (int(q[0] // cell), int(q[1] // cell))
        kr = (int(r[0] // cell), int(r[1] // cell))
        if kq not in seen_q and kr not in seen_r:
            seen_q.add(kq)
            seen_r.add(kr)
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _spread(points: np.ndarray) -> float:
    """The smaller singular value of the centred points, per point (an RMS width of the thinner axis)."""
    centred = points - points.mean(axis=0)
    return float(np.linalg.svd(centred, compute_uv=False)[-1] / math.sqrt(len(points)))


def _coverage(points: np.ndarray, width: int, height: int) -> float:
    hull = cv2.convexHull(points.astype(np.float32))
    return float(cv2.contourArea(hull) / max(width * height, 1))


def _decompose(matrix: np.ndarray) -> tuple[float, float, float, float]:
    """(determinant, scale, anisotropy, rotation in degrees) of the 2x2 linear part."""
    a = matrix[:, :2].astype(np.float64)
    det = float(np.linalg.det(a))
    u, s, vt = np.linalg.svd(a)
    rotation = u @ vt
    angle = -math.degrees(math.atan2(rotation[1, 0], rotation[0, 0]))  # counter-clockwise on screen (y points down)
    return det, math.sqrt(abs(det)), float(s[0] / max(s[1], 1e-12)), angle


def _verify_one(query: LocalFeatures, reference: LocalFeatures, config: VerifyConfig, mirrored: bool) -> Verification:
    pairs = mutual_ratio_matches(query, reference, config.ratio)
    if len(pairs) < config.min_inliers:
        return _outcome("rejected", config, f"{len(pairs)} tentative matches", len(pairs), mirrored=mirrored)
    q_pts = query.points[pairs[:, 0]]
    r_pts = reference.points[pairs[:, 1]]
    matrix, mask = cv2.estimateAffine2D(r_pts, q_pts, method=cv2.USAC_MAGSAC,
                                        ransacReprojThreshold=config.reprojection_threshold,
                                        maxIters=config.max_iterations, confidence=config.confidence)
    if matrix is None or mask is None:
        return _outcome("rejected", config, "no transform", len(pairs), mirrored=mirrored)
    inlier = mask.ravel().astype(bool)
    raw = int(inlier.sum())
    det, scale, anisotropy, rotation = _decompose(matrix)
    geometry = dict(matches=len(pairs), raw=raw, mirrored=mirrored, anisotropy=anisotropy, scale=scale, rotation=rotation)
    if det <= 0:
        return _outcome("rejected", config, "reflected transform", **geometry)
    if not 1.0 / config.max_scale <= scale <= config.max_scale:
        return _outcome("rejected", config, f"implausible scale {scale:.2f}", **geometry)
    if anisotropy > config.max_anisotropy:
        return _outcome("rejected", config, f"implausible anisotropy {anisotropy:.2f}", **geometry)
    q_in, r_in = q_pts[inlier], r_pts[inlier]
    keep = _distinct(q_in, r_in, config.cell)
    q_in, r_in = q_in[keep], r_in[keep]
    if len(keep) < config.min_inliers:
        return _outcome("rejected", config, f"{len(keep)} distinct inliers", inliers=len(keep), **geometry)
    longest_q, longest_r = max(query.width, query.height), max(reference.width, reference.height)
    if min(_spread(q_in) / longest_q, _spread(r_in) / longest_r) < config.min_spread:
        return _outcome("rejected", config, "inliers along a line", **geometry)
    cover_q = _coverage(q_in, query.width, query.height)
    cover_r = _coverage(r_in, reference.width, reference.height)
    if min(cover_q, cover_r) < config.min_coverage:
        return _outcome("rejected", config, f"inliers cover {min(cover_q, cover_r):.1%}", **geometry)
    if len(keep) < config.repeated_min_inliers:
        twins = float(np.median(twin_distances(reference, pairs[inlier][keep, 1])))
        if twins < config.repeated_distance:
            return _outcome("rejected", config, f"inliers on a repeated pattern (median twin distance {twins:.2f})",
                            inliers=len(keep), **geometry)
    if mirrored:  # report query points in the (unmirrored) query image's pixels, the rotation as the query shows it
        q_in = np.stack([query.width - 1 - q_in[:, 0], q_in[:, 1]], axis=1).astype(np.float32)
        rotation = -rotation
    n = len(keep)
    return Verification("verified", n, verification_score(n, config), mirrored, scale, rotation, cover_q, cover_r,
                        q_in.astype(np.float32), r_in.astype(np.float32), len(pairs), raw, anisotropy, "")


def verify_pair(query: LocalFeatures, query_mirror: LocalFeatures | None, reference: LocalFeatures,
                config: VerifyConfig = VerifyConfig()) -> Verification:
    """Verify query (and its mirror image, when given) against reference; keep the better outcome."""
    _one_cv2_thread()
    if not query.usable(config) or not reference.usable(config):
        side, features = ("query", query) if not query.usable(config) else ("reference", reference)
        return _outcome("fallback", config, f"too few distinctive keypoints on the {side} "
                                            f"({features.distinctive_count(config)} of {len(features)})")
    best = _verify_one(query, reference, config, mirrored=False)
    if query_mirror is not None and query_mirror.usable(config):
        other = _verify_one(query_mirror, reference, config, mirrored=True)
        if (other.inliers, other.raw_inliers) > (best.inliers, best.raw_inliers):
            best = other
    return best


# --- the scoring rule --------------------------------------------------------------------------

DEFAULT_SCORE_THRESHOLD: float = 0.5
UNVERIFIED = "unverified"  # status of a pair that was not verified (below the candidate floor, no image)


def _shipped_global_threshold() -> float:
    import json
    from pathlib import Path

    path = Path(__file__).with_name("weights") / "default.json"
    threshold = json.loads(path.read_text(encoding="utf-8")).get("threshold")
    if threshold is None:
        raise ValueError(f"{path}: field 'threshold' is missing; the default score rule needs the detector's calibrated threshold")
    return float(threshold)


@dataclass(frozen=True)
class RejectedRanking:
    """Logistic odds that a rejected pair is a copy all the same (orders rejected pairs; decides none).

    Coefficients fitted on the calibration set's rejected pairs by `bench/fit_rejected_ranking.py`
    (2026-12-02: 8,267 rejected pairs at top-20, 64 of them copies; never on the benchmark).
    """

    intercept: float = -5.03
    similarity: float = 3.37
    dense_correlation: float = 0.33
    dense_overlap: float = 1.11
    margin: float = 18.82
    votes: float = 0.0  # coefficient of log(1 + local-descriptor votes) (detector/local_candidates.py)

    def __post_init__(self) -> None:
        for name in ("similarity", "dense_correlation", "dense_overlap", "margin", "votes"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"RejectedRanking.{name} must be >= 0 (the score is non-decreasing in it), got {getattr(self, name)}")

    def probability(self, g: np.ndarray, correlation: np.ndarray, overlap: np.ndarray, margin: np.ndarray,
                    votes: np.ndarray | None = None) -> np.ndarray:
        """sigmoid(intercept + similarity g + dense_correlation c + dense_overlap o + margin m + votes log(1 + n)).

        c and o are clipped to [0, 1]; n (the pair's local-descriptor votes) counts 0 where not given.
        """
        z = (self.intercept + self.similarity * g + self.dense_correlation * np.clip(correlation, 0.0, 1.0)
             + self.dense_overlap * np.clip(overlap, 0.0, 1.0) + self.margin * margin)
        if votes is not None:
            z = z + self.votes * np.log1p(np.maximum(votes, 0.0))
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


# Fitted like RejectedRanking, with local-descriptor votes known for every pair (detector match / eval with local
# candidates, detector/local_candidates.py): 2026-12-07, calibration set, global top-20 plus up to 5 local candidates
# with >= 10 votes per query.
VOTED_REJECTED_RANKING = RejectedRanking(intercept=-4.46, similarity=1.67, dense_correlation=0.32, dense_overlap=1.28,
                                         margin=18.42, votes=2.05)


def candidate_margins(similarities: Sequence[float] | np.ndarray, floor: float = -1.0) -> np.ndarray:
    """Each candidate's global similarity minus the best other candidate's of the same query (or the floor when alone)."""
    g = np.asarray(similarities, dtype=np.float64)
    if len(g) == 0:
        return g
    if len(g) == 1:
        return g - max(floor, -1.0)
    order = np.argsort(-g, kind="stable")
    best, second = g[order[0]], g[order[1]]
    others = np.where(np.arange(len(g)) == order[0], second, best)
    return g - others


@dataclass(frozen=True)
class ScoreRule:
    """One documented rule: global similarity + verification -> final score in [0, 1] (see the module docstring)."""

    global_threshold: float
    threshold: float = DEFAULT_SCORE_THRESHOLD
    floor_similarity: float = 0.0
    rejected_ceiling: float = 0.4
    verification_weight: float = 0.5
    rejected: RejectedRanking = field(default_factory=RejectedRanking)
    rejected_with_votes: RejectedRanking = VOTED_REJECTED_RANKING  # for pairs whose local-descriptor votes were counted

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"ScoreRule.threshold must be in (0, 1), got {self.threshold}")
        if not self.floor_similarity < self.global_threshold < 1.0:
            raise ValueError(f"ScoreRule needs floor_similarity < global_threshold < 1, got {self.floor_similarity}, {self.global_threshold}")
        if not 0.0 <= self.rejected_ceiling <= self.threshold:
            raise ValueError(f"ScoreRule.rejected_ceiling must be in [0, threshold], got {self.rejected_ceiling}")
        if not 0.0 <= self.verification_weight < 1.0:
            raise ValueError(f"ScoreRule.verification_weight must be in [0, 1), got {self.verification_weight}")

    def global_score(self, global_similarity: np.ndarray | float) -> np.ndarray:
        """f(g): the piecewise-linear map sending floor -> 0, global_threshold -> threshold, 1 -> 1."""
        g = np.clip(np.asarray(global_similarity, dtype=np.float64), self.floor_similarity, 1.0)
        low = self.threshold * (g - self.floor_similarity) / (self.global_threshold - self.floor_similarity)
        high = self.threshold + (1.0 - self.threshold) * (g - self.global_threshold) / (1.0 - self.global_threshold)
        return np.where(g < self.global_threshold, low, high)

    def scores(self, global_similarity: np.ndarray, status: np.ndarray, inliers: np.ndarray,
               verification_score: np.ndarray, margin: np.ndarray | None = None,
               dense_correlation: np.ndarray | None = None, dense_overlap: np.ndarray | None = None,
               votes: np.ndarray | None = None) -> np.ndarray:
        """Vectorised `score`: status is "verified", "rejected", "fallback" or "unverified" per pair.

        margin, dense_correlation and dense_overlap (0 where unknown) and votes (local-descriptor votes;
        negative where not counted) only order the rejected pairs: a pair with counted votes is ranked by
        `rejected_with_votes`, the others by `rejected`.
        """
        raw_g = np.asarray(global_similarity, dtype=np.float64)
        g = self.global_score(raw_g)
        status = np.asarray(status).astype(str)
        known = np.isin(status, (*STATUSES, UNVERIFIED))
        if not known.all():
            raise ValueError(f"ScoreRule.scores: unknown status {sorted(set(status[~known]))}; known: {(*STATUSES, UNVERIFIED)}")
        v = np.clip(np.asarray(verification_score, dtype=np.float64), 0.0, 1.0)
        if not len(g) == len(status) == len(np.asarray(inliers)) == len(v):
            raise ValueError("ScoreRule.scores: global_similarity, status, inliers and verification_score differ in length")
        # the inliers enter through the verification score, a non-decreasing function of them
        w = self.verification_weight
        mix = (1.0 - w) * g + w * v
        zeros = np.zeros(len(g))
        features = [zeros if x is None else np.nan_to_num(np.asarray(x, dtype=np.float64))
                    for x in (dense_correlation, dense_overlap, margin)]
        odds = self.rejected.probability(raw_g, *features)
        if votes is not None:
            counted = np.asarray(votes, dtype=np.float64) >= 0
            odds = np.where(counted, self.rejected_with_votes.probability(raw_g, *features, np.asarray(votes, np.float64)), odds)
        out = np.where(status == "verified", self.threshold + (1.0 - self.threshold) * mix,
                       np.where(status == "rejected", self.rejected_ceiling * odds, g))
        return np.clip(out, 0.0, 1.0)

    def score(self, global_similarity: float, verification: Verification | None, margin: float = 0.0,
              votes: int = -1) -> float:
        """The final score of one pair (verification None: not verified, the global similarity decides; votes < 0: not counted)."""
        if verification is None:
            return float(self.scores(np.array([global_similarity]), np.array([UNVERIFIED]), np.array([0]), np.array([0.0]))[0])
        return float(self.scores(np.array([global_similarity]), np.array([verification.status]),
                                 np.array([verification.inliers]), np.array([verification.score]), np.array([margin]),
                                 votes=np.array([votes]))[0])


DEFAULT_SCORE_RULE: ScoreRule = ScoreRule(global_threshold=_shipped_global_threshold())
