"""The dense check of keypoint-poor pairs: copies of flat images align, unrelated flat images do not."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from detector.dense_check import (
    THUMB_SIDE, DenseConfig, DenseResult, Thumbnails, build_thumbnails, dense_check, thumbnail,
)

CONFIG = DenseConfig()


def smooth_scene(seed: int, size: int = 112) -> Image.Image:
    """A dark, low-texture picture: a few soft blobs on a gradient (too few keypoints for SIFT)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = 60 + 40 * (rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y)
    for _ in range(4):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.25)
        base += rng.uniform(-40, 40) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    tint = rng.uniform(0.6, 1.2, size=3)
    rgb = np.clip(base[..., None] * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1.5))


def two_tone(angle_deg: float, offset: float, notch: bool = False, size: int = 112) -> Image.Image:
    """Two flat regions split by a straight edge (with a notch, when asked): what an affine warp can fake."""
    image = Image.new("RGB", (size, size), (20, 20, 24))
    draw = ImageDraw.Draw(image)
    t = np.tan(np.radians(angle_deg))
    draw.polygon([(0, size * offset), (size, size * offset + size * t), (size, size), (0, size)], fill=(90, 30, 30))
    if notch:
        draw.rectangle([size * 0.3, size * 0.35, size * 0.55, size * 0.6], fill=(90, 30, 30))
    return image


def check(query: Image.Image, reference: Image.Image):
    return dense_check(thumbnail(query), thumbnail(reference), CONFIG)


COPIES = {
    "identity": lambda im: im,
    "jpeg": lambda im: _jpeg(im, 25),
    "rotate 90": lambda im: im.rotate(90),
    "rotate 180 mirrored": lambda im: ImageOps.mirror(im.rotate(180)),
    "mirror": ImageOps.mirror,
    "crop 60%": lambda im: im.crop((10, 20, 10 + 87, 20 + 87)),
    "border": lambda im: ImageOps.expand(im, border=(20, 12, 25, 30), fill=(200, 180, 10)),
    "grayscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "colour jitter": lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.6)).enhance(0.3),
    "small rotation": lambda im: im.rotate(8, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)).crop((10, 10, 102, 102)),
}


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


@pytest.mark.parametrize("transform", sorted(COPIES))
@pytest.mark.parametrize("seed", [1, 2])
def test_copies_of_a_flat_image_align(seed, transform):
    original = smooth_scene(seed)
    result = check(COPIES[transform](original), original)
    assert result.passes(CONFIG), (transform, result)


def test_the_orientation_is_reported():
    original = smooth_scene(3)
    assert check(original.rotate(90), original).quarter_turns in (1, 3)
    mirrored = check(ImageOps.mirror(original), original)
    assert mirrored.mirrored and mirrored.passes(CONFIG)


@pytest.mark.parametrize("seeds", [(1, 2), (3, 4), (5, 6), (7, 8)])
def test_different_flat_images_do_not_align(seeds):
    assert not check(smooth_scene(seeds[0]), smooth_scene(seeds[1])).passes(CONFIG)


TWO_TONE_PAIRS = [
    (two_tone(5, 0.4, notch=True), two_tone(-20, 0.6)),
    (two_tone(30, 0.2), two_tone(-10, 0.7, notch=True)),
    (two_tone(0, 0.5, notch=True), two_tone(15, 0.3)),
    (two_tone(10, 0.3), two_tone(-25, 0.5)),
]


@pytest.mark.parametrize("pair", range(len(TWO_TONE_PAIRS)))
def test_different_two_tone_images_do_not_align(pair):
    query, reference = TWO_TONE_PAIRS[pair]
    assert not check(query, reference).passes(CONFIG)


def test_the_shape_limits_are_what_rejects_two_tone_images():
    # an unconstrained affine warp maps one edge onto another with a gray correlation near 1
    loose = DenseConfig(max_anisotropy=1000.0, max_oblique_anisotropy=1000.0, max_scale=1000.0, min_overlap=0.05)
    fooled = [dense_check(thumbnail(q), thumbnail(r), loose).passes(loose) for q, r in TWO_TONE_PAIRS]
    assert any(fooled), fooled


def test_blank_images_agree_only_with_blank_images():
    blank = Image.new("RGB", (80, 80), (40, 40, 40))
    assert not check(smooth_scene(1), blank).passes(CONFIG)


def test_config_validation():
    with pytest.raises(ValueError):
        DenseConfig(min_correlation=1.0)
    with pytest.raises(ValueError):
        DenseConfig(max_anisotropy=0.5)
    with pytest.raises(ValueError):
        DenseConfig(starts=0)


def test_thumbnails_of_an_older_format_are_rebuilt(tmp_path):
    images = [(f"im{i}", smooth_scene(i)) for i in range(3)]
    folder = tmp_path / "thumbs"
    built = build_thumbnails(images, folder)
    assert built.array.shape == (3, THUMB_SIDE, THUMB_SIDE, 3)
    np.testing.assert_array_equal(built.get("im1"), thumbnail(images[1][1]))
    (folder / "thumbnail_format.json").write_text(json.dumps({"format": "old", "side": THUMB_SIDE}))
    np.save(folder / "thumbnails.npy", np.zeros((3, THUMB_SIDE, THUMB_SIDE, 3), np.uint8))
    rebuilt = build_thumbnails(images, folder)
    np.testing.assert_array_equal(rebuilt.get("im2"), thumbnail(images[2][1]))
    again = Thumbnails(folder)
    assert again.get("missing") is None


def test_one_layout_in_another_colour_is_not_a_copy():
    # the demo's `colors` task: the same picture in different colours has a different label
    gray = np.asarray(ImageOps.grayscale(smooth_scene(5)), np.float32)
    stretched = (gray - gray.min()) / (np.ptp(gray) + 1e-6)
    original = Image.fromarray((255 * stretched[..., None] * np.array([1.0, 0.25, 0.1])).astype(np.uint8))
    recoloured = Image.fromarray(np.asarray(original)[..., ::-1].copy())  # red and blue swapped
    result = check(recoloured, original)
    assert result.correlation > 0.9 and result.colour_difference > CONFIG.max_colour_difference
    assert not result.passes(CONFIG)
    assert check(ImageOps.grayscale(original).convert("RGB"), original).passes(CONFIG)  # gray: gray levels only


def test_strength_grows_with_correlation_and_overlap():
    weak, strong = DenseResult(0.985, False, 0.5), DenseResult(0.999, False, 0.5)
    assert 0.0 < weak.strength(CONFIG) < strong.strength(CONFIG) <= 1.0
    assert DenseResult(0.999, False, 1.0).strength(CONFIG) > strong.strength(CONFIG)
    assert DenseResult(0.9, False, 1.0).strength(CONFIG) == 0.0


def test_a_dense_agreement_below_the_dense_floor_is_rejected_but_ranked():
    """Among flat images of one kind a lookalike aligns like a copy; a low global similarity decides,
    unless the alignment is exact."""
    from detector.match import PairVerifier, QueryFeatures, TwoStageConfig
    from detector.verify import DEFAULT_SCORE_THRESHOLD

    reference, other = smooth_scene(21), smooth_scene(22)
    thumbs = {"ref": thumbnail(reference), "other": thumbnail(other)}
    verifier = PairVerifier(lambda _: None, TwoStageConfig(), thumbs.get)
    below = CONFIG.min_similarity - 0.1
    cropped = QueryFeatures(COPIES["crop 60%"](reference), TwoStageConfig().features)  # aligns, but over 64% only
    high, low = verifier.dense(cropped, "ref", 0.9), verifier.dense(cropped, "ref", below)
    unrelated = verifier.dense(cropped, "other", below)
    assert high.status == "dense" and high.score > DEFAULT_SCORE_THRESHOLD
    assert low.status == "rejected" and low.score < DEFAULT_SCORE_THRESHOLD
    assert unrelated.status == "rejected" and unrelated.score < low.score  # the alignment still ranks it
    exact = verifier.dense(QueryFeatures(COPIES["rotate 90"](reference), TwoStageConfig().features), "ref", below)
    assert exact.status == "dense"  # an exact alignment counts at any global similarity
    compressed = QueryFeatures(COPIES["jpeg"](reference), TwoStageConfig().features)  # strength about 0.8
    assert verifier.dense(compressed, "ref", below).status == "rejected"
    lenient = PairVerifier(lambda _: None, TwoStageConfig(dense=DenseConfig(exact_strength=0.75)), thumbs.get)
    assert lenient.dense(compressed, "ref", below).status == "dense"
