"""Caption pairs and classification sets over every source kind."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from clip_core.data import (
    IMAGENET_TEMPLATES, open_captions, open_classification, write_csv_manifest, write_image_folder,
    write_img2dataset, write_webdataset,
)
from clip_core.data.classification import resolve_label_map


@pytest.mark.parametrize("kind", ["csv", "webdataset", "img2dataset", "folder"])
def test_caption_pairs_from_every_format(tmp_path, color_examples, kind):
    if kind == "csv":
        write_csv_manifest(color_examples, tmp_path / "m.csv")
        loc = tmp_path / "m.csv"
    elif kind == "webdataset":
        write_webdataset(color_examples, tmp_path / "w", shard_size=4)
        loc = tmp_path / "w"
    elif kind == "img2dataset":
        write_img2dataset(color_examples, tmp_path / "i", shard_size=4, failed=[color_examples[0].id])
        loc = tmp_path / "i"
    else:
        write_image_folder(color_examples, tmp_path / "f")
        loc = tmp_path / "f"
    pairs = open_captions(loc)
    got = sorted(e.caption for e in pairs)
    expected = sorted(e.caption for e in color_examples[(1 if kind == "img2dataset" else 0):])
    assert got == expected
    assert pairs.skipped == []


def test_examples_without_caption_are_skipped_and_recorded(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    (tmp_path / "a.txt").write_text("a black square\n")
    pairs = open_captions(tmp_path)
    assert [(e.id, e.caption) for e in pairs] == [("a.png", "a black square")]
    assert [(s.id, s.reason) for s in pairs.skipped] == [("b.png", "no caption")]


def test_csv_without_caption_column_is_an_error(tmp_path, color_examples):
    write_csv_manifest([(e.id, e.image, e.label) for e in color_examples[:2]], tmp_path / "m.csv",
                       text_field="label")
    with pytest.raises(ValueError, match="'caption'"):
        open_captions(tmp_path / "m.csv")


def test_synthetic_stream_as_caption_source():
    pairs = open_captions("synthetic?n=5&size=16")
    assert len([e for e in pairs]) == 5
    with pytest.raises(ValueError, match="not a caption source"):
        open_captions("synthetic:colors")


def test_classification_from_imagefolder_defaults(tmp_path, color_examples):
    write_image_folder(color_examples, tmp_path / "f")
    cs = open_classification(tmp_path / "f")
    assert cs.classnames == sorted({e.label for e in color_examples})
    assert cs.templates == list(IMAGENET_TEMPLATES)
    exs = list(cs)
    assert len(exs) == 12 and all(e.label in cs.classnames for e in exs)
    assert cs.prompts()[0][0] == IMAGENET_TEMPLATES[0].replace("{}", cs.classnames[0])
    assert cs.label_index(cs.classnames[2]) == 2


def test_classification_csv_with_index_labels_and_classnames_file(tmp_path):
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "b.png")
    (tmp_path / "m.csv").write_text("path,label\na.png,1\nb.png,0\n")
    (tmp_path / "names.txt").write_text("blue thing\nred thing\n")
    (tmp_path / "t.txt").write_text("a {}.\n")
    cs = open_classification(tmp_path / "m.csv", classnames=tmp_path / "names.txt", templates=tmp_path / "t.txt")
    assert [(e.id, e.label) for e in cs] == [("a.png", "red thing"), ("b.png", "blue thing")]
    assert cs.prompts() == [["a blue thing."], ["a red thing."]]


def test_classification_wordnet_style_mapping(tmp_path):
    for wnid in ("n02", "n01"):
        (tmp_path / wnid).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / wnid / "x.png")
    (tmp_path / "map.json").write_text(json.dumps({"n01": "tench", "n02": "goldfish"}))
    cs = open_classification(tmp_path, classnames=tmp_path / "map.json", templates="imagenet-7")
    assert sorted((e.id, e.label) for e in cs) == [("n01/x.png", "tench"), ("n02/x.png", "goldfish")]
    assert len(cs.templates) == 7
    cs2 = open_classification(tmp_path, classnames=["tench", "goldfish"])  # sorted labels -> list order
    assert sorted(e.label for e in cs2) == ["goldfish", "tench"]


def test_label_map_errors():
    with pytest.raises(ValueError, match="no labels"):
        resolve_label_map([], None, "x")
    with pytest.raises(ValueError, match="not among"):
        resolve_label_map(["a", "b", "c"], ["a", "z"], "x")
    with pytest.raises(ValueError, match="missing from the class-name mapping"):
        resolve_label_map(["a"], {"b": "B"}, "x")


def test_unlabelled_examples_are_skipped_in_classification(tmp_path):
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cat" / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "top.png")
    cs = open_classification(tmp_path)
    assert [e.id for e in cs] == ["cat/a.png"]
    assert [(s.id, s.reason) for s in cs.skipped] == [("top.png", "no label")]


def test_synthetic_task_classification_keeps_task_order_and_templates():
    cs = open_classification("synthetic:counts?n=8&size=16")
    assert cs.classnames == ["one", "two", "three", "four"]
    assert cs.templates[0] == "a photo of {} shapes."
    assert [e.label for e in cs] == ["one", "two", "three", "four"] * 2
    with pytest.raises(ValueError, match="no labels"):
        open_classification("synthetic?n=4")
