"""Planting evaluation images into the training stream (contamination demo bookkeeping)."""
from __future__ import annotations

import csv
import random

import pytest
from PIL import ImageOps

from clip_core.data import SyntheticCaptionStream, SyntheticTask


@pytest.fixture()
def evals():
    task = SyntheticTask("colors", n=6, size=32)
    return [task[i] for i in range(6)]


def test_explicit_positions_replace_items_and_are_recorded(evals):
    s = SyntheticCaptionStream(seed=0, size=32, length=100)
    original = s[10].image.tobytes()
    recs = s.plant(evals[:2], positions=[10, 50, 70])
    assert [(r.train_index, r.eval_id, r.copy) for r in recs] == [
        (10, "colors/000000", 0), (50, "colors/000001", 0), (70, "colors/000000", 1)]
    assert s[10].image.tobytes() == evals[0].image.tobytes() != original
    assert s[10].id == "train/000000010"
    assert s[10].caption == evals[0].caption
    assert s.planted_at(50).eval_id == "colors/000001"
    assert s.planted_at(11) is None
    assert s[11].image.tobytes() == SyntheticCaptionStream(seed=0, size=32)[11].image.tobytes()
    with pytest.raises(ValueError, match="already planted"):
        s.plant(evals[:1], positions=[10])


def test_rate_and_copies_are_deterministic_and_cover_the_images(evals):
    a = SyntheticCaptionStream(seed=0, size=32, length=1000)
    b = SyntheticCaptionStream(seed=0, size=32, length=1000)
    ra = a.plant(evals, rate=0.03, seed=5)
    rb = b.plant(evals, rate=0.03, seed=5)
    assert ra == rb and len(ra) == 30
    assert len({r.train_index for r in ra}) == 30
    assert {r.eval_id for r in ra} == {e.id for e in evals}
    assert sorted(r.eval_id for r in ra).count(evals[0].id) == 5
    c = SyntheticCaptionStream(seed=0, size=32, length=1000)
    rc = c.plant(evals, copies=2, seed=1, horizon=200)
    assert len(rc) == 12 and all(r.train_index < 200 for r in rc)
    # iterating the stream yields the planted images at the recorded positions
    planted = {r.train_index: r.eval_id for r in rc}
    by_id = {e.id: e.image.tobytes() for e in evals}
    for i, ex in enumerate(c):
        if i in planted:
            assert ex.image.tobytes() == by_id[planted[i]]
        if i >= 200:
            break


def test_augmentation_is_applied_deterministically(evals):
    def aug(img, rng: random.Random):
        return ImageOps.mirror(img).rotate(rng.uniform(-20, 20))

    s = SyntheticCaptionStream(seed=0, size=32, length=50)
    s.plant(evals[:1], positions=[3], augment=aug)
    first, second = s[3].image.tobytes(), s[3].image.tobytes()
    assert first == second
    assert first != evals[0].image.tobytes()
    s2 = SyntheticCaptionStream(seed=0, size=32, length=50)
    s2.plant(evals[:1], positions=[3], augment=lambda im: ImageOps.flip(im))
    assert s2[3].image.tobytes() == ImageOps.flip(evals[0].image).tobytes()


def test_plants_table_and_csv(tmp_path, evals):
    s = SyntheticCaptionStream(seed=0, size=32, length=100)
    s.plant(evals[:3], positions=[40, 5, 20], caption=lambda e: f"planted {e.label}")
    assert [r["train_index"] for r in s.plants_table()] == [5, 20, 40]
    assert s[5].caption == f"planted {evals[1].label}"
    path = s.write_plants_csv(tmp_path / "plants.csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0] == {"train_index": "5", "train_id": "train/000000005", "eval_id": "colors/000001", "copy": "0"}
    s.clear_plants()
    assert s.plants == []


def test_planting_errors(evals):
    endless = SyntheticCaptionStream(size=16)
    with pytest.raises(ValueError, match="horizon"):
        endless.plant(evals, rate=0.1)
    s = SyntheticCaptionStream(size=16, length=10)
    with pytest.raises(ValueError, match="only one"):
        s.plant(evals, rate=0.1, copies=1)
    with pytest.raises(ValueError, match="free"):
        s.plant(evals, copies=2)
    with pytest.raises(IndexError):
        s.plant(evals, positions=[10])
    with pytest.raises(ValueError, match="no evaluation"):
        s.plant([], copies=1)
