from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from detector import augment as A
from tests.detector.conftest import make_image

SINGLE = [
    A.crop_zoom, A.aspect_distort, A.rescale, A.rotate_small, A.rotate_right_angle, A.flip, A.jpeg,
    A.colour_jitter, A.grayscale, A.blur, A.text_overlay, A.shape_overlay, A.border,
]
EXPECTED_FAMILIES = {"resize", "jpeg", "crop", "flip", "rotation", "colour", "grayscale", "blur", "text",
                     "border", "aspect", "combo3"}


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


@pytest.mark.parametrize("fn", SINGLE, ids=lambda f: f.__name__)
def test_each_augmentation_is_seeded_rgb_and_changes_the_image(fn):
    img = make_image(3, (64, 48))
    a = fn(img, np.random.default_rng(7))
    b = fn(img, np.random.default_rng(7))
    assert a.mode == "RGB"
    assert a.size == b.size and np.array_equal(_arr(a), _arr(b))
    outs = [fn(img, np.random.default_rng(seed)) for seed in range(4)]
    assert any(o.size != img.size or np.abs(_arr(o) - _arr(img)).max() > 0 for o in outs)


def test_families_are_the_benchmark_set():
    assert set(A.FAMILY_NAMES) == EXPECTED_FAMILIES


@pytest.mark.parametrize("name", sorted(EXPECTED_FAMILIES))
def test_family_runs_on_a_photo_sized_image(name):
    img = make_image(5, (256, 192))
    out = A.apply_family(name, img, np.random.default_rng(11))
    assert out.mode == "RGB" and min(out.size) >= 8


def test_specific_geometry():
    img = make_image(1, (64, 48))
    rng = np.random.default_rng(0)
    assert A.rotate_right_angle(img, rng).size in {(64, 48), (48, 64)}
    flipped = A.flip(img, np.random.default_rng(0), vertical_probability=0.0)
    assert np.array_equal(_arr(flipped), _arr(img)[:, ::-1])
    bordered = A.border(img, rng, 0.1, 0.2)
    assert bordered.size[0] >= 64 + 2 * 6 and bordered.size[1] >= 48 + 2 * 4
    cropped = A.crop_zoom(img, rng, 0.3, 0.5, zoom=False)
    assert cropped.size[0] * cropped.size[1] < 0.6 * 64 * 48
    assert A.crop_zoom(img, rng).size == img.size
    gray = _arr(A.grayscale(img, rng))
    assert np.array_equal(gray[..., 0], gray[..., 1])


def test_hsv_shift_full_turn_is_identity_and_half_turn_is_not():
    img = make_image(2)
    same = A.hsv_shift(img, 1.0)
    other = A.hsv_shift(img, 0.5)
    base = _arr(img.convert("HSV").convert("RGB"))
    assert np.abs(_arr(same) - base).max() <= 2
    assert np.abs(_arr(other) - base).mean() > 5


def test_mixup_blends_and_train_recipe_size():
    img, other = make_image(1), make_image(2)
    mixed = A.mixup(img, other, np.random.default_rng(0))
    assert 0 < np.abs(_arr(mixed) - _arr(img)).mean() < np.abs(_arr(other) - _arr(img)).mean()
    recipe = A.TrainAugment(size=40, p_mixup=1.0)
    views = [recipe(img, np.random.default_rng(s), other=other) for s in range(5)]
    assert all(v.size == (40, 40) and v.mode == "RGB" for v in views)
    assert not np.array_equal(_arr(views[0]), _arr(views[1]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown transform family"):
        A.apply_family("swirl", make_image(0), np.random.default_rng(0))
    with pytest.raises(ValueError, match="quality"):
        A.jpeg(make_image(0), np.random.default_rng(0), min_quality=0)
    with pytest.raises(ValueError, match="p_flip"):
        A.TrainAugment(p_flip=2.0)


def test_random_tiles_do_not_overlap_and_shrink():
    img = Image.fromarray(np.arange(300 * 200 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8))
    rng = np.random.default_rng(0)
    tiles = A.random_tiles(img, rng, 4, min_side=0.3, max_side=0.5)
    assert len(tiles) == 4 and all(t.size[0] == t.size[1] <= 100 for t in tiles)
    # tiles cut from a unique-valued index image: no pixel value triple appears in two tiles
    big = np.arange(200 * 300).reshape(200, 300)
    index = Image.fromarray(np.stack([big % 256, (big // 256) % 256, big // 65536], -1).astype(np.uint8))
    parts = A.random_tiles(index, np.random.default_rng(1), 4, 0.3, 0.5)
    sets = [{tuple(p) for p in np.asarray(t).reshape(-1, 3)} for t in parts]
    assert all(not (sets[i] & sets[j]) for i in range(4) for j in range(i + 1, 4))
    small = A.random_tiles(img, np.random.default_rng(2), 4, 0.3, 0.5, max_pixels=20)
    assert all(t.size[0] <= 20 for t in small)
    with pytest.raises(ValueError, match="count"):
        A.random_tiles(img, rng, 0)


def test_photo_tiles_recipe_replaces_blank_tiles_and_hardens():
    recipe = A.TrainAugment(size=32, tiles_per_image=4, p_harden=1.0)
    blank = Image.new("RGB", (120, 120), (200, 200, 200))
    blank.paste(make_image(1, (40, 40)), (0, 0))  # one textured corner, three blank quadrants
    bases = recipe.base_images(blank, np.random.default_rng(0), other=make_image(2, (90, 90)))
    assert len(bases) == 4
    stds = [float(np.asarray(b.convert("L"), dtype=np.float32).std()) for b in bases]
    assert sum(s < 1.0 for s in stds) <= 1  # at most one blank tile survives (the whole image replaces one)
    plain = A.TrainAugment(size=32).base_images(blank, np.random.default_rng(0))
    assert plain == [blank]
    assert set(A.RECIPES) == {"standard", "photo-tiles", "photo-tiles-finetune"} and A.PHOTO_TILES.tiles_per_image == 4
    with pytest.raises(ValueError, match="tiles_per_image"):
        A.TrainAugment(tiles_per_image=0)


def test_recipe_text_strength_and_jpeg_at_source_resolution(monkeypatch):
    calls = {"text": [], "jpeg": []}
    real_text, real_jpeg = A.text_overlay, A.jpeg
    monkeypatch.setattr(A, "text_overlay", lambda im, r, *a: calls["text"].append(a) or real_text(im, r, *a))
    monkeypatch.setattr(A, "jpeg", lambda im, r, **k: calls["jpeg"].append(im.size) or real_jpeg(im, r, **k))
    recipe = A.TrainAugment(size=32, crop_min_area=1.0, p_aspect=0, p_rescale=0, p_rotate_small=0, p_rotate_right=0,
                            p_border=0, p_text=1.0, text_min_size=0.2, text_max_size=0.3, text_lines=3,
                            p_jpeg=1.0, p_jpeg_source=1.0)
    view = recipe(make_image(3, (96, 96)), np.random.default_rng(0))
    assert view.size == (32, 32)
    assert calls["text"] == [(0.2, 0.3, 3)]
    assert calls["jpeg"] == [(96, 96), (32, 32)]  # once at the source resolution, once after resizing
    calls["jpeg"].clear()
    A.TrainAugment(size=32, p_jpeg=1.0)(make_image(3, (96, 96)), np.random.default_rng(0))
    assert len(calls["jpeg"]) == 1  # off by default: the older recipes draw exactly as before
    ft = A.RECIPES["photo-tiles-finetune"]
    assert ft.p_jpeg_source > 0 and ft.text_lines == 3 and ft.tiles_per_image == A.PHOTO_TILES.tiles_per_image
    with pytest.raises(ValueError, match="text_lines"):
        A.TrainAugment(text_lines=0)
    with pytest.raises(ValueError, match="text_min_size"):
        A.TrainAugment(text_min_size=0.3, text_max_size=0.2)
