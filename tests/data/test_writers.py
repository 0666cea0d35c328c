"""Writers: tuple inputs, determinism, id collisions."""
from __future__ import annotations

import pytest
from PIL import Image

from clip_core.data import open_source, write_csv_manifest, write_webdataset
from clip_core.data.writers import as_examples


def test_tuple_inputs_with_label_or_caption():
    img = Image.new("RGB", (4, 4))
    a, b = list(as_examples([("x", img, "cat")], text_field="label")) + list(as_examples([("y", img, "hi")]))
    assert (a.label, a.caption) == ("cat", None)
    assert (b.label, b.caption) == (None, "hi")
    with pytest.raises(ValueError):
        list(as_examples([("z",)]))


def test_webdataset_writing_is_deterministic(tmp_path, color_examples):
    write_webdataset(color_examples, tmp_path / "a", shard_size=5)
    write_webdataset(color_examples, tmp_path / "b", shard_size=5)
    for name in ("00000.tar", "00001.tar", "00002.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not list((tmp_path / "a").glob(".*tmp"))


def test_ids_with_dots_become_safe_keys(tmp_path):
    img = Image.new("RGB", (4, 4), "red")
    res = write_webdataset([("photos/a.b.jpg", img, "cap")], tmp_path / "w", ext="png")
    assert res.ids == {"photos/a.b.jpg": "photos/a_b_jpg"}
    assert [e.id for e in open_source(tmp_path / "w")] == ["photos/a_b_jpg"]


def test_colliding_ids_are_rejected(tmp_path):
    img = Image.new("RGB", (4, 4))
    with pytest.raises(ValueError, match="collide"):
        write_webdataset([("a.b", img, "x"), ("a_b", img, "y")], tmp_path / "w")
    with pytest.raises(ValueError, match="duplicate id"):
        write_csv_manifest([("a", img, "x"), ("a", img, "y")], tmp_path / "m.csv")
