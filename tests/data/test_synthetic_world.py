"""The synthetic world: determinism, captions, tasks, disjointness, learnability of colour."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from clip_core.data import SyntheticCaptionStream, SyntheticTask, list_synthetic_tasks, open_source
from clip_core.data.synthetic_scene import COLORS, COUNT_WORDS, PLURALS, SHAPES


def _digest(img) -> str:
    return hashlib.sha1(img.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def train_digests() -> set[str]:
    stream = SyntheticCaptionStream(seed=0, size=32)
    return {_digest(stream[i].image) for i in range(2000)}


def test_same_index_same_image_and_caption_across_instances():
    a, b = SyntheticCaptionStream(seed=3, size=48), SyntheticCaptionStream(seed=3, size=48)
    for i in (0, 7, 123456):
        ea, eb = a[i], b[i]
        assert ea.id == eb.id == f"train/{i:09d}"
        assert ea.caption == eb.caption
        assert ea.image.size == (48, 48) and ea.image.mode == "RGB"
        assert ea.image.tobytes() == eb.image.tobytes()
    # random access order does not matter
    assert a[5].image.tobytes() == [a[i] for i in range(6)][5].image.tobytes()


def test_seeds_change_the_world():
    a, b = SyntheticCaptionStream(seed=0), SyntheticCaptionStream(seed=1)
    assert sum(a[i].image.tobytes() != b[i].image.tobytes() for i in range(10)) == 10


def test_stream_iteration_length_and_shards():
    s = SyntheticCaptionStream(seed=0, size=16, length=25, slice_size=10)
    assert len(s) == 25
    assert [sh.name for sh in s.shards()] == ["slice-00000", "slice-00001", "slice-00002"]
    assert [e.id for e in s] == [f"train/{i:09d}" for i in range(25)]
    with pytest.raises(IndexError):
        s[25]
    endless = SyntheticCaptionStream(size=16)
    it = iter(endless)
    assert [next(it).id for _ in range(3)] == [f"train/{i:09d}" for i in range(3)]
    with pytest.raises(TypeError):
        len(endless)


def test_captions_mention_colour_shape_and_count():
    s = SyntheticCaptionStream(seed=0, size=16)
    templates_seen = set()
    for i in range(300):
        scene, caption = s.scene(i), s.caption(i)
        words = caption.replace(",", " ").replace(".", " ").split()
        assert scene.color in words, caption
        noun_ok = (scene.shape in words or PLURALS[scene.shape] in words
                   or any(g in words for g in ("shape", "shapes", "object", "objects")))
        assert noun_ok, caption
        if scene.count > 1:
            assert COUNT_WORDS[scene.count] in words, caption
        templates_seen.add(" ".join(words[:2]))
    assert len(templates_seen) >= 8  # varied phrasing


def test_world_covers_the_attribute_space():
    s = SyntheticCaptionStream(seed=0, size=16)
    scenes = [s.scene(i) for i in range(600)]
    assert {sc.color for sc in scenes} == set(COLORS)
    assert {sc.shape for sc in scenes} == set(SHAPES)
    assert {sc.count for sc in scenes} == {1, 2, 3, 4}
    assert {sc.texture for sc in scenes} == {"plain", "striped", "dotted", "checkered"}
    assert len({sc.background for sc in scenes}) >= 5
    assert len({sc.size for sc in scenes}) == 3


@pytest.mark.parametrize("name", ["colors", "shapes", "counts"])
def test_tasks_are_balanced_labelled_and_addressable(name):
    task = open_source(f"synthetic:{name}?n=40&seed=0&size=32")
    assert isinstance(task, SyntheticTask) and len(task) == 40
    exs = list(task)
    assert exs[3].id == f"{name}/000003"
    k = len(task.classnames)
    assert [e.label for e in exs[:k]] == task.classnames
    assert all("{}" in t for t in task.templates)
    # the label attribute really is in the scene
    attr = {"colors": "color", "shapes": "shape", "counts": "count"}[name]
    for i in range(k):
        value = getattr(task.scene(i), attr)
        assert (COUNT_WORDS[value] if name == "counts" else value) == exs[i].label


def test_required_tasks_exist_with_enough_classes():
    assert {"colors", "shapes", "counts"} <= set(list_synthetic_tasks())
    assert len(SyntheticTask("colors").classnames) >= 8
    assert len(SyntheticTask("colors")) == 50 * len(SyntheticTask("colors").classnames)
    with pytest.raises(ValueError, match="unknown synthetic task"):
        open_source("synthetic:nope")
    with pytest.raises(ValueError, match="unknown synthetic parameter"):
        open_source("synthetic:colors?bogus=1")


def test_eval_images_are_disjoint_from_training_images(train_digests):
    for name in ("colors", "shapes", "counts"):
        task = SyntheticTask(name, n=200, size=32)
        digests = {_digest(task[i].image) for i in range(200)}
        assert len(digests) == 200  # no internal duplicates either
        assert not digests & train_digests


def test_colour_is_learnable_from_the_stream_and_transfers_to_the_task():
    """A colour-histogram linear classifier trained on stream scenes classifies task images."""
    from sklearn.linear_model import LogisticRegression

    def hist(img):
        a = np.asarray(img, dtype=np.int64) // 64
        idx = a[..., 0] * 16 + a[..., 1] * 4 + a[..., 2]
        return np.bincount(idx.ravel(), minlength=64) / idx.size

    stream = SyntheticCaptionStream(seed=0, size=32)
    x = np.stack([hist(stream[i].image) for i in range(800)])
    y = [stream.scene(i).color for i in range(800)]
    clf = LogisticRegression(max_iter=2000, C=50.0).fit(x, y)
    task = SyntheticTask("colors", n=200, size=32)
    xt = np.stack([hist(task[i].image) for i in range(200)])
    acc = float(np.mean(clf.predict(xt) == np.array([task[i].label for i in range(200)])))
    assert acc > 0.8
