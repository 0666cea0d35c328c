"""Local-feature verification on constructed pairs with known answers, degeneracy traps, and the scoring rule."""
from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from detector.hard_negatives import bordered, chess_board, sample_photographs, star_field, stripes, tiles
from detector.verify import (
    DEFAULT_SCORE_RULE, DEFAULT_SCORE_THRESHOLD, STATUSES, UNVERIFIED, LocalFeatures, ScoreRule, Verification,
    SIFT_MIRROR_PERMUTATION, VerifyConfig, extract_features, extract_with_mirror, mirror_features, mirrored,
    verification_score, verify_pair,
)

CONFIG = VerifyConfig()


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    return sample_photographs()


@pytest.fixture(scope="session")
def reference_features(photos) -> dict[str, LocalFeatures]:
    return {name: extract_features(image) for name, image in photos.items()}


def verify_images(query: Image.Image, reference: Image.Image) -> Verification:
    features, mirror = extract_with_mirror(query)
    return verify_pair(features, mirror, extract_features(reference))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def crop_fraction(image: Image.Image, area: float, x: float = 0.2, y: float = 0.3) -> Image.Image:
    w, h = image.size
    side = math.sqrt(area)
    cw, ch = int(w * side), int(h * side)
    x0, y0 = int((w - cw) * x), int((h - ch) * y)
    return image.crop((x0, y0, x0 + cw, y0 + ch))


def text_overlay(image: Image.Image) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(12, image.height // 8))
    draw.text((image.width // 10, image.height // 3), "COPY 2026 #meme", fill=(255, 255, 0), font=font,
              stroke_width=2, stroke_fill=(0, 0, 0))
    return out


TRANSFORMS = {
    "crop45": lambda im: crop_fraction(im, 0.45),
    "mirror": ImageOps.mirror,
    "rotation20": lambda im: im.rotate(20, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)),
    "rotation-12-expand": lambda im: im.rotate(-12, resample=Image.Resampling.BICUBIC, expand=True),
    "text": text_overlay,
    "jpeg30": lambda im: jpeg(im, 30),
    "colour": lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.4)).enhance(0.3),
    "resize": lambda im: im.resize((im.width * 2 // 5, im.height * 2 // 5), Image.Resampling.BILINEAR),
    "crop+mirror+jpeg": lambda im: jpeg(ImageOps.mirror(crop_fraction(im, 0.55, 0.7, 0.5)), 40),
    "rotate+text+colour": lambda im: ImageEnhance.Contrast(text_overlay(im.rotate(10, expand=True))).enhance(0.6),
}


@pytest.mark.parametrize("photo", ["china", "grace_hopper"])
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_copies_of_a_photograph_verify(photos, reference_features, photo, transform):
    query = TRANSFORMS[transform](photos[photo])
    features, mirror = extract_with_mirror(query)
    result = verify_pair(features, mirror, reference_features[photo])
    assert result.status == "verified", result.to_row()
    assert result.inliers >= CONFIG.min_inliers and 0 < result.score < 1
    assert result.mirrored == ("mirror" in transform)
    assert len(result.query_points) == len(result.reference_points) == result.inliers


def test_the_transform_is_measured(photos, reference_features):
    rotated = verify_pair(*extract_with_mirror(photos["china"].rotate(20, resample=Image.Resampling.BILINEAR)),
                          reference_features["china"])
    assert rotated.rotation_deg == pytest.approx(20, abs=2) and rotated.scale == pytest.approx(1, abs=0.05)
    crop = verify_pair(*extract_with_mirror(crop_fraction(photos["china"], 0.45)), reference_features["china"])
    assert crop.scale == pytest.approx(1 / math.sqrt(0.45), rel=0.06)  # a 45% crop shown at max_side is a 1.49x zoom
    assert 0.2 < crop.coverage_reference < 0.5 and crop.coverage_query > 0.5


def test_mirrored_inliers_are_reported_in_the_unmirrored_query(photos, reference_features):
    query = ImageOps.mirror(photos["grace_hopper"])
    result = verify_pair(*extract_with_mirror(query), reference_features["grace_hopper"])
    assert result.mirrored
    features = extract_features(query)
    expected_x = features.width - 1 - result.reference_points[:, 0] * features.width / reference_features["grace_hopper"].width
    assert np.median(np.abs(result.query_points[:, 0] - expected_x)) < 2.0


def keypoint_agreement(derived: LocalFeatures, extracted: LocalFeatures, radius: float = 1.5) -> float:
    """Share of derived keypoints with an extracted keypoint within `radius` px whose descriptor is their nearest one."""
    distance = np.linalg.norm(derived.points[:, None, :] - extracted.points[None, :, :], axis=2)
    a, b = derived.descriptors.astype(np.float32), extracted.descriptors.astype(np.float32)
    nearest = np.argmin((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, axis=1)
    return float((distance[np.arange(len(derived)), nearest] <= radius).mean())


def test_mirror_permutation_is_an_involution_keeping_the_spatial_grid():
    p = SIFT_MIRROR_PERMUTATION
    assert sorted(p) == list(range(128)) and np.array_equal(p[p], np.arange(128))
    grid = np.arange(128).reshape(4, 4, 8)
    assert p[grid[0, 1, 0]] == grid[3, 1, 0] and p[grid[2, 3, 2]] == grid[1, 3, 6]  # rows reversed, o -> -o


@pytest.mark.parametrize("photo", ["china", "flower", "grace_hopper"])
def test_derived_mirror_features_equal_those_of_the_mirror_image(photos, reference_features, photo):
    derived = mirrored(reference_features[photo])
    extracted = mirror_features(photos[photo])
    assert len(derived) == len(reference_features[photo]) and derived.distinctive == reference_features[photo].distinctive
    assert keypoint_agreement(derived, extracted) >= 0.8
    columns = np.arange(128).reshape(4, 4, 8)[:, ::-1][:, :, (8 - np.arange(8)) % 8].reshape(128)  # a wrong layout
    wrong = LocalFeatures(derived.points, reference_features[photo].descriptors[:, columns], derived.width, derived.height)
    assert keypoint_agreement(wrong, extracted) < 0.5  # the check can tell a wrong permutation
    again = mirrored(derived)
    assert np.allclose(again.points, reference_features[photo].points, atol=1e-4)
    assert np.array_equal(again.descriptors, reference_features[photo].descriptors)


@pytest.mark.parametrize("transform", ["mirror", "crop+mirror+jpeg"])
def test_a_mirrored_copy_verifies_with_derived_mirror_features(photos, reference_features, transform):
    query = TRANSFORMS[transform](photos["china"])
    features, derived = extract_with_mirror(query)
    assert np.array_equal(derived.descriptors, mirrored(features).descriptors)  # the one-pass path derives it
    with_derived = verify_pair(features, derived, reference_features["china"])
    re_extracted = verify_pair(features, mirror_features(query), reference_features["china"])
    assert with_derived.verified and with_derived.mirrored, with_derived.to_row()
    assert with_derived.inliers >= 0.6 * re_extracted.inliers
    assert with_derived.rotation_deg == pytest.approx(re_extracted.rotation_deg, abs=2)
    assert with_derived.scale == pytest.approx(re_extracted.scale, rel=0.05)


def test_mirror_of_empty_features_is_empty():
    empty = mirrored(extract_features(Image.new("RGB", (40, 30), (9, 9, 9))))
    assert len(empty) == 0 and empty.descriptors.shape == (0, 128)


NEGATIVE_PAIRS = {
    "chess boards": (chess_board(1, (300, 260)), chess_board(2, (300, 260))),
    "chess boards same size": (chess_board(3), chess_board(8)),
    "star fields": (star_field(1), star_field(2)),
    "dense star fields": (star_field(5, (400, 400)), star_field(6, (400, 400))),
    "tiles": (tiles(1), tiles(2)),
    "stripes": (stripes(1), stripes(2)),
}


@pytest.mark.parametrize("name", sorted(NEGATIVE_PAIRS))
def test_unrelated_repetitive_images_do_not_verify(name):
    a, b = NEGATIVE_PAIRS[name]
    result = verify_images(a, b)
    assert result.status != "verified", result.to_row()
    assert DEFAULT_SCORE_RULE.score(0.99, result) < DEFAULT_SCORE_THRESHOLD or result.status == "fallback"


@pytest.mark.parametrize("pair", [("china", "flower"), ("china", "grace_hopper"), ("flower", "grace_hopper")])
def test_two_different_photographs_do_not_verify(photos, pair):
    a, b = (photos[n] for n in pair)
    for query, reference in ((a, b), (b, a), (bordered(a, 0), bordered(b, 0))):
        result = verify_images(query, reference)
        assert result.status == "rejected", result.to_row()
        assert DEFAULT_SCORE_RULE.score(0.999, result) < DEFAULT_SCORE_THRESHOLD


def test_star_fields_fool_naive_matching_but_not_verification():
    """The trap is real: plain ratio-test matches exist in numbers, yet nothing survives the checks."""
    a, b = star_field(11, (400, 400)), star_field(12, (400, 400))
    fa, fb = extract_features(a), extract_features(b)
    result = verify_pair(fa, mirror_features(a), fb)
    assert result.matches >= CONFIG.min_inliers  # tentative matches beyond min_inliers...
    assert not result.verified and result.inliers < CONFIG.min_inliers  # ...but no consistent, spread geometry


def test_blank_and_corrupt_images_fall_back():
    blank = Image.new("RGB", (200, 150), (120, 130, 140))
    assert len(extract_features(blank)) == 0
    result = verify_images(blank, Image.new("RGB", (200, 150), (10, 10, 10)))
    assert result.status == "fallback" and result.inliers == 0 and "too few" in result.reason
    truncated = io.BytesIO()
    chess_board(0).save(truncated, format="PNG")
    broken = Image.open(io.BytesIO(truncated.getvalue()[:200]))  # header fine, data cut: fails on load
    features = extract_features(broken)
    assert len(features) == 0 and not features.usable(CONFIG)
    assert verify_pair(features, mirror_features(broken), extract_features(chess_board(0))).status == "fallback"
    tiny = Image.new("RGB", (3, 2), (0, 0, 0))
    assert verify_images(tiny, tiny).status == "fallback"
    assert DEFAULT_SCORE_RULE.score(0.99, result) == DEFAULT_SCORE_RULE.score(0.99, None)


def test_synthetic_world_copies_verify_or_fall_back_and_different_images_do_not_verify():
    from audit.demo import plant_augment
    from clip_core.data import open_source

    images = [e.image for e in open_source("synthetic:counts?n=24&seed=3&size=64")]
    features = [extract_with_mirror(image) for image in images]
    verified = [verify_pair(*features[i], features[j][0]).verified for i in range(len(images)) for j in range(len(images)) if i != j]
    assert sum(verified) == 0
    rng = random.Random(0)
    statuses = [verify_pair(*extract_with_mirror(plant_augment(image, rng)), f[0]).status for image, f in zip(images, features)]
    assert statuses.count("rejected") <= 3, statuses  # measured: 6 of 60 rejected (docs/verification.md)
    assert statuses.count("verified") >= 6, statuses


def test_features_fit_the_store_budget(photos):
    features = extract_features(photos["china"])
    assert features.points.dtype == np.float32 and features.descriptors.dtype == np.uint8
    assert len(features) <= CONFIG.max_keypoints and features.points.nbytes + features.descriptors.nbytes <= 50_000
    assert max(features.width, features.height) == CONFIG.max_side
    small = extract_features(photos["china"].resize((64, 43)))
    assert max(small.width, small.height) == CONFIG.max_side  # small images are upscaled


def test_verification_row_is_flat(photos, reference_features):
    row = verify_pair(*extract_with_mirror(photos["china"]), reference_features["china"]).to_row()
    assert row["status"] == "verified" and row["verified"] is True
    assert all(isinstance(v, (str, int, float, bool)) for v in row.values())


def test_config_validation():
    with pytest.raises(ValueError, match="min_inliers"):
        VerifyConfig(min_inliers=2)
    with pytest.raises(ValueError, match="ratio"):
        VerifyConfig(ratio=1.5)
    assert VerifyConfig.from_dict(CONFIG.to_dict()) == CONFIG
    with pytest.raises(ValueError, match="unknown"):
        VerifyConfig.from_dict({"nope": 1})


# --- the scoring rule ---------------------------------------------------------------------------

RULE = ScoreRule(global_threshold=0.8)
statuses = st.sampled_from((*STATUSES, UNVERIFIED))
similarities = st.floats(-1.0, 1.0, allow_nan=False)
inlier_counts = st.integers(0, 500)


def _score(rule: ScoreRule, g: float, status: str, inliers: int) -> float:
    if status == "verified":
        inliers = max(inliers, CONFIG.min_inliers)
    elif status == "rejected":
        inliers = min(inliers, CONFIG.min_inliers - 1)
    elif status in ("fallback", UNVERIFIED):
        inliers = 0
    return float(rule.scores(np.array([g]), np.array([status]), np.array([inliers]),
                             np.array([verification_score(inliers, CONFIG)]))[0])


@settings(max_examples=300, deadline=None)
@given(similarities, similarities, statuses, inlier_counts)
def test_score_is_bounded_and_monotone_in_global_similarity(g1, g2, status, inliers):
    low, high = sorted((g1, g2))
    a, b = _score(RULE, low, status, inliers), _score(RULE, high, status, inliers)
    assert 0.0 <= a <= b <= 1.0


@settings(max_examples=300, deadline=None)
@given(similarities, inlier_counts, inlier_counts)
def test_score_is_monotone_in_inliers_across_rejected_and_verified(g, n1, n2):
    low, high = sorted((n1, n2))
    status = lambda n: "verified" if n >= CONFIG.min_inliers else "rejected"  # noqa: E731 - what verify_pair decides
    assert _score(RULE, g, status(low), low) <= _score(RULE, g, status(high), high)


@settings(max_examples=200, deadline=None)
@given(similarities, inlier_counts)
def test_rejected_below_and_verified_above_the_threshold(g, inliers):
    assert _score(RULE, g, "rejected", inliers) < RULE.threshold < _score(RULE, g, "verified", inliers)


def test_fallback_maps_the_global_threshold_onto_the_score_threshold():
    assert RULE.score(0.8, None) == pytest.approx(RULE.threshold)
    assert RULE.score(1.0, None) == pytest.approx(1.0) and RULE.score(RULE.floor_similarity, None) == 0.0
    assert RULE.score(0.79, None) < RULE.threshold < RULE.score(0.81, None)
    assert DEFAULT_SCORE_RULE.score(DEFAULT_SCORE_RULE.global_threshold, None) == pytest.approx(DEFAULT_SCORE_THRESHOLD)


def test_vectorised_scores_match_single_scores(photos, reference_features):
    results = [verify_images(photos["china"], photos["china"]), verify_images(photos["china"], photos["flower"]),
               verify_images(Image.new("RGB", (50, 50)), photos["china"])]
    g = np.array([0.95, 0.7, 0.9])
    vector = RULE.scores(g, np.array([r.status for r in results]), np.array([r.inliers for r in results]),
                         np.array([r.score for r in results]))
    assert [r.status for r in results] == ["verified", "rejected", "fallback"]
    assert vector == pytest.approx([RULE.score(float(x), r) for x, r in zip(g, results)])
    with pytest.raises(ValueError, match="unknown status"):
        RULE.scores(g[:1], np.array(["maybe"]), np.array([0]), np.array([0.0]))
    with pytest.raises(ValueError, match="global_threshold"):
        ScoreRule(global_threshold=1.2)
