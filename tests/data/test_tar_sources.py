"""WebDataset shards and img2dataset output, read with streaming tarfile."""
from __future__ import annotations

import io
import json
import tarfile

import pyarrow.parquet as pq
import pytest
from PIL import Image

from clip_core.data import DuplicateIdError, open_source, write_img2dataset, write_webdataset
from clip_core.data.tar_source import split_member_name


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_member_names_split_at_first_dot():
    assert split_member_name("000123.jpg") == ("000123", "jpg")
    assert split_member_name("dir/a.seg.png") == ("dir/a", "seg.png")
    assert split_member_name("._hidden.jpg") is None
    assert split_member_name("noext") is None


def test_webdataset_round_trip_keys_captions_labels(tmp_path, color_examples):
    res = write_webdataset(color_examples, tmp_path / "wds", shard_size=5, ext="png")
    assert [p.name for p in res.paths] == ["00000.tar", "00001.tar", "00002.tar"]
    src = open_source(tmp_path / "wds")
    assert src.kind == "webdataset"
    assert [s.name for s in src.shards()] == ["00000", "00001", "00002"]
    got = {e.id: e for e in src}
    assert set(got) == {e.id for e in color_examples}  # ids keep their '/' (key without shard name)
    for ex in color_examples:
        assert got[ex.id].caption == ex.caption
        assert got[ex.id].label == ex.label
        assert got[ex.id].image.tobytes() == ex.image.tobytes()
        assert got[ex.id].location.endswith(".png")
    with pytest.raises(TypeError):
        len(src)
    assert src.num_examples is None
    assert src.check_unique_ids() == 12


def test_hand_made_tar_with_json_label_and_corrupt_members(tmp_path, bad_image_bytes):
    _tar(tmp_path / "shard.tar", [
        ("a.jpg", _png("red")),  # png bytes under a jpg name still decode
        ("a.txt", b"a red square\n"),
        ("a.json", json.dumps({"label": 3}).encode()),
        ("b.png", bad_image_bytes["truncated"]),
        ("b.txt", b"broken"),
        ("c.txt", b"caption without image"),
        ("d.webp", bad_image_bytes["garbage"]),
        ("e.png", _png("blue")),
        ("e.cls", b"7"),
    ])
    src = open_source(tmp_path / "shard.tar")
    exs = list(src)
    assert [(e.id, e.label, e.caption) for e in exs] == [("a", "3", "a red square"), ("e", "7", None)]
    reasons = {s.id: s.reason for s in src.skipped}
    assert set(reasons) == {"b", "c", "d"}
    assert reasons["c"] == "sample has no image member"
    assert reasons["b"].startswith("unreadable image")
    assert src.shards()[0].skipped == src.skipped


def test_truncated_tar_is_recorded_not_fatal(tmp_path, color_examples):
    write_webdataset(color_examples[:4], tmp_path / "w", shard_size=10, ext="png")
    data = (tmp_path / "w" / "00000.tar").read_bytes()
    (tmp_path / "w" / "00000.tar").write_bytes(data[:4 * 1024 + 512 + 100])  # cut inside sample 2
    src = open_source(tmp_path / "w")
    assert [e.id for e in src] == ["colors/000000"]
    assert any("unreadable tar" in s.reason for s in src.skipped)


def test_brace_pattern_selects_shards(tmp_path, color_examples):
    write_webdataset(color_examples, tmp_path / "wds", shard_size=3, ext="png")
    src = open_source(str(tmp_path / "wds" / "{00001..00002}.tar"))
    assert src.kind == "webdataset"
    assert [s.name for s in src.shards()] == ["00001", "00002"]
    assert [e.id for e in src] == [e.id for e in color_examples[3:9]]
    with pytest.raises(FileNotFoundError, match="00009"):
        open_source(str(tmp_path / "wds" / "{00000..00009}.tar"))


def test_duplicate_keys_across_shards_name_both_locations(tmp_path, color_examples):
    write_webdataset(color_examples[:3], tmp_path / "wds", shard_size=10, ext="png")
    write_webdataset(color_examples[2:4], tmp_path / "wds", shard_size=10, ext="png", start_shard=1)
    src = open_source(tmp_path / "wds")
    with pytest.raises(DuplicateIdError) as info:
        list(src)
    assert "00000.tar" in str(info.value) and "00001.tar" in str(info.value)
    with pytest.raises(DuplicateIdError):
        open_source(tmp_path / "wds").check_unique_ids()


def test_img2dataset_only_successful_rows(tmp_path, color_examples):
    failed = [color_examples[1].id, color_examples[6].id]
    res = write_img2dataset(color_examples, tmp_path / "i2d", shard_size=5, failed=failed, ext="png")
    names = sorted(p.name for p in (tmp_path / "i2d").iterdir())
    assert "00000_stats.json" in names and "00002.parquet" in names
    table = pq.read_table(tmp_path / "i2d" / "00000.parquet")
    for col in ("url", "caption", "key", "status", "error_message", "width", "height", "sha256"):
        assert col in table.column_names
    assert all(len(k) == 9 and k.isdigit() for k in table.column("key").to_pylist())
    src = open_source(tmp_path / "i2d")
    assert src.kind == "img2dataset"
    assert len(src) == 10
    got = {e.id: e for e in src}
    assert set(got) == {res.ids[e.id] for e in color_examples if e.id not in failed}
    for ex in color_examples:
        if ex.id not in failed:
            assert got[res.ids[ex.id]].caption == ex.caption
            assert got[res.ids[ex.id]].image.tobytes() == ex.image.tobytes()
    assert src.skipped == []


def test_img2dataset_parquet_filter_is_applied_even_if_tar_holds_the_row(tmp_path, color_examples):
    write_img2dataset(color_examples[:4], tmp_path / "i2d", shard_size=10, ext="png")
    table = pq.read_table(tmp_path / "i2d" / "00000.parquet").to_pylist()
    table[2]["status"] = "failed_to_resize"
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(table), tmp_path / "i2d" / "00000.parquet")
    src = open_source(tmp_path / "i2d")
    assert [e.id for e in src] == ["000000000", "000000001", "000000003"]
    assert len(src) == 3


def test_img2dataset_errors_name_file_and_field(tmp_path, color_examples):
    write_img2dataset(color_examples[:2], tmp_path / "i2d", shard_size=10, ext="png")
    import pyarrow as pa

    pq.write_table(pa.table({"key": ["000000000"], "url": ["u"]}), tmp_path / "i2d" / "00000.parquet")
    with pytest.raises(ValueError, match=r"00000\.parquet.*'status'"):
        open_source(tmp_path / "i2d")


def test_img2dataset_row_missing_from_tar_is_recorded(tmp_path, color_examples):
    write_img2dataset(color_examples[:3], tmp_path / "i2d", shard_size=10, ext="png")
    tar_path = tmp_path / "i2d" / "00000.tar"
    with tarfile.open(tar_path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if not m.name.startswith("000000001")]
    _tar(tar_path, members)
    src = open_source(tmp_path / "i2d")
    assert [e.id for e in src] == ["000000000", "000000002"]
    assert [(s.id, "missing from tar" in s.reason) for s in src.skipped] == [("000000001", True)]
