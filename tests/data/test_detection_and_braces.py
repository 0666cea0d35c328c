"""Format detection, overrides and brace expansion."""
from __future__ import annotations

import pytest

from clip_core.data import detect_format, open_source, write_csv_manifest, write_img2dataset, write_webdataset
from clip_core.data.braces import expand_braces


def test_expand_braces_ranges_lists_and_padding():
    assert expand_braces("s/{00000..00002}.tar") == ["s/00000.tar", "s/00001.tar", "s/00002.tar"]
    assert expand_braces("{8..10}") == ["8", "9", "10"]
    assert expand_braces("{a,b}-{1..2}") == ["a-1", "a-2", "b-1", "b-2"]
    assert expand_braces("plain.tar") == ["plain.tar"]
    with pytest.raises(ValueError):
        expand_braces("{a")
    with pytest.raises(ValueError):
        expand_braces("{x}")


def test_detection_of_every_kind(tmp_path, color_examples):
    write_csv_manifest(color_examples[:2], tmp_path / "c" / "m.csv")
    write_webdataset(color_examples[:2], tmp_path / "w")
    write_img2dataset(color_examples[:2], tmp_path / "i")
    assert detect_format(tmp_path / "c" / "m.csv") == "csv"
    assert detect_format(tmp_path / "c" / "images") == "folder"
    assert detect_format(tmp_path / "w") == "webdataset"
    assert detect_format(tmp_path / "w" / "00000.tar") == "webdataset"
    assert detect_format(tmp_path / "i") == "img2dataset"
    assert detect_format(str(tmp_path / "i" / "{00000..00000}.tar")) == "img2dataset"
    assert detect_format("synthetic:colors") == "synthetic"


def test_format_override(tmp_path, color_examples):
    write_img2dataset(color_examples[:3], tmp_path / "i", ext="png")
    as_wds = open_source(tmp_path / "i", format="wds")
    assert as_wds.kind == "webdataset"
    assert len(list(as_wds)) == 3
    with pytest.raises(ValueError, match="unknown source format"):
        open_source(tmp_path / "i", format="parquetz")


def test_unknown_files_and_missing_paths(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(ValueError, match="cannot tell"):
        open_source(tmp_path / "x.bin")
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError):
        open_source(str(tmp_path / "nothing-{0..3}.tar"))
