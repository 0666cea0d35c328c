"""Folder sources: ImageFolder labels, flat unlabelled folders, captions, skips, slices."""
from __future__ import annotations

import pytest
from PIL import Image

from clip_core.data import open_source, write_image_folder
from clip_core.data.folder_source import FolderSource


def _img(color):
    return Image.new("RGB", (16, 16), color)


def test_imagefolder_labels_ids_and_pixels(tmp_path, color_examples):
    res = write_image_folder(color_examples, tmp_path / "f")
    src = open_source(tmp_path / "f")
    assert src.kind == "folder"
    got = {ex.id: ex for ex in src}
    assert set(got) == set(res.ids.values())
    for ex in color_examples:
        back = got[res.ids[ex.id]]
        assert back.label == ex.label
        assert back.id.startswith(ex.label + "/")
        assert back.caption == ex.caption
        assert back.image.mode == "RGB"
        assert back.image.tobytes() == ex.image.tobytes()  # png round trip is lossless
    assert src.classnames == sorted({ex.label for ex in color_examples})
    assert len(src) == len(color_examples)


def test_flat_folder_is_unlabelled_and_ids_are_relative_paths(tmp_path):
    for i in range(3):
        _img((i * 50, 0, 0)).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.md").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    src = open_source(tmp_path)
    exs = list(src)
    assert [e.id for e in exs] == ["im0.png", "im1.png", "im2.png"]
    assert all(e.label is None for e in exs)
    assert src.classnames == []


def test_nested_ids_use_forward_slashes_and_first_folder_is_label(tmp_path):
    (tmp_path / "dog" / "sub").mkdir(parents=True)
    _img((1, 2, 3)).save(tmp_path / "dog" / "sub" / "a.jpg")
    ex = next(iter(open_source(tmp_path)))
    assert ex.id == "dog/sub/a.jpg"
    assert ex.label == "dog"


def test_corrupt_images_are_skipped_and_recorded(tmp_path, bad_image_bytes):
    (tmp_path / "cat").mkdir()
    _img((9, 9, 9)).save(tmp_path / "cat" / "good.png")
    for kind, data in bad_image_bytes.items():
        (tmp_path / "cat" / f"{kind}.jpg").write_bytes(data)
    src = open_source(tmp_path)
    exs = list(src)
    assert [e.id for e in exs] == ["cat/good.png"]
    skipped = {s.id: s for s in src.skipped}
    assert set(skipped) == {f"cat/{k}.jpg" for k in bad_image_bytes}
    assert all("unreadable" in s.reason for s in skipped.values())
    assert all(s.location.endswith(".jpg") for s in skipped.values())
    # a second pass does not double count
    list(src)
    assert len(src.skipped) == len(bad_image_bytes)


def test_slices_have_stable_names_and_cover_everything(tmp_path, color_examples):
    write_image_folder(color_examples, tmp_path / "f")
    src = FolderSource(tmp_path / "f", slice_size=5)
    shards = src.shards()
    assert [s.name for s in shards] == ["slice-00000", "slice-00001", "slice-00002"]
    assert [len(s) for s in shards] == [5, 5, 2]
    ids = [e.id for s in shards for e in s]
    assert ids == sorted(ids) and len(set(ids)) == 12
    again = FolderSource(tmp_path / "f", slice_size=5)
    assert [[e.id for e in s] for s in again.shards()] == [[e.id for e in s] for s in shards]


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        open_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        open_source(tmp_path / "empty")
    with pytest.raises(ValueError, match="no images"):
        open_source(tmp_path / "empty", format="folder")
