"""Prompt template registry and loading class names/templates from files."""
from __future__ import annotations

import json

import pytest

from clip_core.data import templates as T


def test_imagenet_templates_match_the_paper_notebook():
    assert len(T.IMAGENET_TEMPLATES) == 80 and len(set(T.IMAGENET_TEMPLATES)) == 80
    assert T.IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert T.IMAGENET_TEMPLATES[-1] == "a tattoo of the {}."
    assert set(T.IMAGENET_7_TEMPLATES) <= set(T.IMAGENET_TEMPLATES)
    assert T.IMAGENET_7_TEMPLATES == (
        "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
        "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
    )


def test_imagenet_templates_agree_with_open_clip_if_installed():
    meta = pytest.importorskip("open_clip.zero_shot_metadata")
    assert tuple(t("{}") for t in meta.OPENAI_IMAGENET_TEMPLATES) == T.IMAGENET_TEMPLATES
    assert tuple(t("{}") for t in meta.SIMPLE_IMAGENET_TEMPLATES) == T.IMAGENET_7_TEMPLATES


def test_registry_lookups():
    assert T.get_templates("imagenet7") == list(T.IMAGENET_7_TEMPLATES)
    assert len(T.get_templates("cifar10")) == 18
    assert T.get_templates("mnist") == ['a photo of the number: "{}".']
    assert len(T.get_templates("ucf101")) == 48 and len(T.get_templates("kinetics700")) == 28
    assert len(T.get_classnames("cifar100")) == 100
    assert T.get_classnames("cifar10")[0] == "airplane"
    assert T.get_templates("synthetic:colors")[0] == "a photo of a {} shape."
    assert T.get_classnames("synthetic:counts") == ["one", "two", "three", "four"]
    for name in T.list_template_sets():
        for t in T.get_templates(name):
            T.validate_template(t)
    with pytest.raises(ValueError, match="unknown template set"):
        T.get_templates("nonexistent")


def test_load_templates_txt_and_json(tmp_path):
    (tmp_path / "t.txt").write_text("# comment\na photo of a {}.\n\nitap of a {c}.\n")
    assert T.load_templates(tmp_path / "t.txt") == ["a photo of a {}.", "itap of a {}."]
    (tmp_path / "t.json").write_text(json.dumps({"classes": ["a"], "templates": ["x {}"]}))
    assert T.load_templates(tmp_path / "t.json") == ["x {}"]
    (tmp_path / "bad.txt").write_text("good {}\nno placeholder\n")
    with pytest.raises(ValueError, match=r"bad\.txt line 2"):
        T.load_templates(tmp_path / "bad.txt")
    with pytest.raises(FileNotFoundError):
        T.load_templates(tmp_path / "missing.txt")
    assert T.resolve_templates("imagenet-7") == list(T.IMAGENET_7_TEMPLATES)
    assert T.resolve_templates(tmp_path / "t.txt")[0] == "a photo of a {}."


def test_load_classnames_txt_and_json(tmp_path):
    (tmp_path / "c.txt").write_text("cat\ndog\n")
    assert T.load_classnames(tmp_path / "c.txt") == ["cat", "dog"]
    (tmp_path / "c.json").write_text(json.dumps({"n01": "tench", "n02": "goldfish"}))
    assert T.load_classnames(tmp_path / "c.json") == {"n01": "tench", "n02": "goldfish"}
    (tmp_path / "l.json").write_text(json.dumps(["a", ["happy", "smiling"]]))
    assert T.load_classnames(tmp_path / "l.json") == ["a", "happy"]
    (tmp_path / "d.txt").write_text("cat\ncat\n")
    with pytest.raises(ValueError, match="duplicate"):
        T.load_classnames(tmp_path / "d.txt")


def test_fill_is_plain_replacement():
    assert T.fill("a photo of a {}.", "c{a}t") == "a photo of a c{a}t."
