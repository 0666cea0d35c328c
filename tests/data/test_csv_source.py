"""CSV manifests: path/id/label/caption columns, relative paths, errors, skips."""
from __future__ import annotations

import pytest
from PIL import Image

from clip_core.data import DuplicateIdError, open_source, write_csv_manifest


def test_manifest_round_trip_with_ids_labels_captions(tmp_path, color_examples):
    res = write_csv_manifest(color_examples, tmp_path / "m" / "manifest.csv")
    src = open_source(tmp_path / "m" / "manifest.csv")
    assert src.kind == "csv"
    got = {e.id: e for e in src}
    assert set(got) == {e.id for e in color_examples}
    for ex in color_examples:
        assert got[ex.id].label == ex.label
        assert got[ex.id].caption == ex.caption
        assert got[ex.id].image.tobytes() == ex.image.tobytes()
    assert res.ids == {e.id: e.id for e in color_examples}


def test_id_defaults_to_path_and_relative_paths_resolve_against_csv_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "imgs" / "a.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.csv").write_text("path,label\n../imgs/a.png,red\n")
    ex = next(iter(open_source(tmp_path / "sub" / "list.csv")))
    assert ex.id == "../imgs/a.png"
    assert ex.label == "red"
    assert ex.caption is None


def test_missing_path_column_names_file_and_field(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("file,label\na.png,x\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*'path'"):
        open_source(p)


def test_empty_manifest_and_empty_cells_are_errors(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        open_source(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("path,label\n")
    with pytest.raises(ValueError, match="no rows"):
        open_source(tmp_path / "h.csv")
    (tmp_path / "c.csv").write_text("path,label\n,x\n")
    with pytest.raises(ValueError, match="line 2.*'path'"):
        open_source(tmp_path / "c.csv")


def test_duplicate_ids_name_both_lines(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("id,path\nx,a.png\ny,b.png\nx,c.png\n")
    with pytest.raises(DuplicateIdError) as info:
        open_source(p)
    msg = str(info.value)
    assert "'x'" in msg and "line 2" in msg and "line 4" in msg


def test_missing_and_corrupt_files_are_skipped(tmp_path, bad_image_bytes):
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(bad_image_bytes["garbage"])
    (tmp_path / "m.csv").write_text("path\nok.png\nbad.png\ngone.png\n")
    src = open_source(tmp_path / "m.csv")
    assert [e.id for e in src] == ["ok.png"]
    reasons = {s.id: s.reason for s in src.skipped}
    assert reasons["gone.png"] == "file not found"
    assert reasons["bad.png"].startswith("unreadable image")
    assert len(src) == 3  # listed rows
