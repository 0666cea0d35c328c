"""clip_core.run_settings: source fingerprints, model hashes, and the record-or-check of a stage's settings."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import torch

from clip_core.run_settings import (
    RunSettings,
    SettingsMismatch,
    differences,
    fingerprint_source,
    module_sha256,
    record_or_check,
    settings_path,
)
from clip_core.skip_check import TooManySkipped, check_readable, skipped_fraction


def _settings(top_k: int = 5, source: dict | None = None) -> RunSettings:
    return RunSettings(inputs={"pretraining": source or {"sha256": "aaa"}}, model={"sha256": "m1"},
                       parameters={"top_k": top_k, "index": "flat"}, version="1.0")


def test_first_run_records_and_an_identical_rerun_passes(tmp_path: Path) -> None:
    path = record_or_check(tmp_path, "stage", _settings())
    assert path == settings_path(tmp_path, "stage") == tmp_path / "stage.settings.json"
    record = json.loads(path.read_text())
    assert record["stage"] == "stage" and record["parameters"] == {"index": "flat", "top_k": 5}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
    before = path.read_bytes()
    record_or_check(tmp_path, "stage", _settings())
    assert path.read_bytes() == before


def test_a_rerun_with_other_settings_names_every_difference(tmp_path: Path) -> None:
    record_or_check(tmp_path, "overlap", _settings())
    with pytest.raises(SettingsMismatch) as caught:
        record_or_check(tmp_path, "overlap", _settings(top_k=3, source={"sha256": "bbb"}))
    message = str(caught.value)
    assert "parameters.top_k: 5 -> 3" in message
    assert "inputs.pretraining.sha256: aaa -> bbb" in message
    assert "parameters.index" not in message
    assert "--overwrite" in message and "--out" in message
    assert json.loads(settings_path(tmp_path, "overlap").read_text())["parameters"]["top_k"] == 5


def test_overwrite_clears_only_the_stage_outputs(tmp_path: Path) -> None:
    outputs = ("shards", "table.csv", "part-*.npy")
    record_or_check(tmp_path, "overlap", _settings(), outputs=outputs)
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "a.parquet").write_text("x")
    (tmp_path / "table.csv").write_text("x")
    (tmp_path / "part-00001.npy").write_text("x")
    (tmp_path / "labels.csv").write_text("keep me")
    record_or_check(tmp_path, "overlap", _settings(top_k=3), overwrite=True, outputs=outputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv", "overlap.settings.json"]
    assert json.loads(settings_path(tmp_path, "overlap").read_text())["parameters"]["top_k"] == 3
    with pytest.raises(ValueError, match="inside the output folder"):
        record_or_check(tmp_path, "overlap", _settings(), overwrite=True, outputs=("../elsewhere",))


def test_outputs_without_a_record_and_corrupt_records_are_refused(tmp_path: Path) -> None:
    (tmp_path / "table.csv").write_text("x")
    with pytest.raises(SettingsMismatch, match="table.csv.*without stage.settings.json"):
        record_or_check(tmp_path, "stage", _settings(), outputs=("table.csv",))
    settings_path(tmp_path, "other").write_text("{not json")
    with pytest.raises(SettingsMismatch, match="other.settings.json: unreadable settings record"):
        record_or_check(tmp_path, "other", _settings())


def test_differences_flatten_nested_fields_and_show_missing_ones() -> None:
    old = {"model": {"sha256": "a", "config": {"dim": 32}}, "parameters": {"top_k": 5}}
    new = {"model": None, "parameters": {"top_k": 5, "index": "ivf"}}
    assert differences(old, new) == [
        "model.config.dim: 32 -> (none)", "model.sha256: a -> (none)", "parameters.index: (none) -> ivf",
    ]
    assert differences(old, old) == []


def _write_tar(path: Path, names: list[str]) -> None:
    with tarfile.open(path, "w") as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 3
            archive.addfile(info, io.BytesIO(b"abc"))


def test_fingerprint_changes_with_any_listed_file(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "a.png").write_bytes(b"12345")
    first = fingerprint_source(folder)
    assert first["kind"] == "folder" and first["files"] == 1 and first["bytes"] == 5
    assert fingerprint_source(str(folder)) == first
    (folder / "cat" / "b.png").write_bytes(b"1")
    second = fingerprint_source(folder)
    assert second["files"] == 2 and second["sha256"] != first["sha256"]
    os.utime(folder / "cat" / "b.png", ns=(1, 1))
    assert fingerprint_source(folder)["sha256"] != second["sha256"]

    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(2):
        _write_tar(shards / f"{i:05d}.tar", [f"k{i}.jpg"])
    pattern = fingerprint_source(str(shards / "{00000..00001}.tar"))
    assert pattern["kind"] == "pattern" and pattern["files"] == 2
    single = fingerprint_source(shards / "00000.tar")
    assert single["kind"] == "file" and single["files"] == 1
    (shards / "00000.parquet").write_bytes(b"side file")
    assert fingerprint_source(shards / "00000.tar")["files"] == 2

    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{folder / 'cat' / 'a.png'}\nmissing.png\n")
    listed = fingerprint_source(manifest)
    assert listed["kind"] == "csv" and listed["files"] == 3
    assert fingerprint_source("synthetic:shapes?n=4")["kind"] == "synthetic"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        fingerprint_source(tmp_path / "nowhere")


def test_module_hash_follows_the_weights() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    copy = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    copy.load_state_dict(model.state_dict())
    assert module_sha256(model) == module_sha256(copy)
    with torch.no_grad():
        copy[0].weight[0, 0] += 1e-6
    assert module_sha256(model) != module_sha256(copy)
    assert module_sha256(model.to(torch.bfloat16)) != module_sha256(copy)


def test_check_readable_counts_against_the_limit() -> None:
    check_readable(99, 1, 0.01, "src")
    with pytest.raises(TooManySkipped, match=r"src: 2 of 100 items unreadable \(2.0%\)"):
        check_readable(98, 2, 0.01, "src")
    check_readable(98, 2, 0.05, "src")
    with pytest.raises(TooManySkipped, match="nothing readable: 0 items read, 3 unreadable; see here"):
        check_readable(0, 3, 1.0, "src", "here")
    with pytest.raises(ValueError, match="must lie in"):
        check_readable(1, 0, 1.5, "src")
    assert skipped_fraction(0, 0) == 0.0 and skipped_fraction(3, 1) == 0.25
