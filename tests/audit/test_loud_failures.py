"""Pre-training sources that yield nothing readable, or too many unreadable images, make `overlap` exit non-zero."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data import open_source
from clip_core.data.writers import write_webdataset
from tests.audit.overlap_image_world import SIZE, ImageWorld, add_corrupt_member, build_image_world, overlap_args

runner = CliRunner()


@pytest.fixture(scope="module")
def image_world(tmp_path_factory) -> ImageWorld:
    return build_image_world(tmp_path_factory.mktemp("loud_world"))


def _truncated_tar(path: Path) -> None:
    """A tar cut inside its first member's data: the reader fails before any sample is complete."""
    buffer = io.BytesIO()
    payload = bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("sample0.png")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    path.write_bytes(buffer.getvalue()[:1500])


def _empty_tar(path: Path) -> None:
    with tarfile.open(path, "w"):
        pass


def _garbage_tar(path: Path) -> None:
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)))


@pytest.mark.parametrize(("make", "unreadable"), [(_empty_tar, 0), (_garbage_tar, 1), (_truncated_tar, 1)])
def test_a_tar_with_nothing_readable_exits_non_zero_with_the_counts(image_world, tmp_path, make, unreadable) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    make(shards / "00000.tar")
    result = runner.invoke(app, overlap_args(image_world, tmp_path / "out", shards))
    assert result.exit_code == 2, result.output
    assert f"nothing readable: 0 items read, {unreadable} unreadable" in result.output
    assert "warning: pre-training shard '00000' yielded no readable item" in result.output


def test_a_garbage_file_as_pretraining_source_is_an_error(image_world, tmp_path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not a data set")
    result = runner.invoke(app, overlap_args(image_world, tmp_path / "out", garbage))
    assert result.exit_code == 2 and "garbage.bin" in result.output, result.output


def test_an_empty_shard_among_good_ones_is_reported_and_counted(image_world, tmp_path) -> None:
    shards = tmp_path / "shards"
    items = [(f"web{i:03d}", e.image, "a picture") for i, e in enumerate(open_source(f"synthetic?n=10&seed=9&size={SIZE}"))]
    write_webdataset(items, shards, shard_size=10, ext="png")
    _empty_tar(shards / "00001.tar")
    result = runner.invoke(app, overlap_args(image_world, tmp_path / "out", shards))
    assert result.exit_code == 0, result.output
    assert "warning: pre-training shard '00001' yielded no readable item" in result.output
    run = json.loads((tmp_path / "out" / "overlap_summary.json").read_text())["run"]
    assert run["pretraining_items"] == 10 and run["pretraining_skipped"] == 0 and run["empty_shards"] == ["00001"]


def test_two_percent_corrupt_images_fail_at_the_default_and_pass_at_five_percent(tmp_path) -> None:
    world = build_image_world(tmp_path / "world", n_pretraining=49, shard_size=25)  # shards of 25 and 24 images
    add_corrupt_member(world.pretraining / "00001.tar", "broken000.png")  # 1 of 50 unreadable: 2%
    out = tmp_path / "out"
    failed = runner.invoke(app, overlap_args(world, out))
    assert failed.exit_code == 2, failed.output
    assert "49 pre-training item(s) streamed, 1 unreadable (2.0%" in failed.output
    assert "1 of 50 items unreadable (2.0%), more than --max-skipped-fraction 0.01" in failed.output
    run = json.loads((out / "overlap_summary.json").read_text())["run"]
    assert (run["pretraining_items"], run["pretraining_skipped"], run["empty_shards"]) == (49, 1, [])

    accepted = runner.invoke(app, overlap_args(world, out, None, None, "--max-skipped-fraction", "0.05"))
    assert accepted.exit_code == 0, accepted.output
    assert "skipped 2 already done, 49 pre-training item(s) streamed, 1 unreadable (2.0%" in accepted.output
    run = json.loads((out / "overlap_summary.json").read_text())["run"]
    assert (run["pretraining_items"], run["pretraining_skipped"], run["shards_total"]) == (49, 1, 2)
    skipped = (out / "skipped" / "00001.csv").read_text().splitlines()
    assert len(skipped) == 2 and skipped[1].startswith("broken000,")


def test_unreadable_evaluation_images_are_reported(image_world, tmp_path) -> None:
    import shutil
    from dataclasses import replace

    eval_dir = tmp_path / "eval"
    shutil.copytree(image_world.eval_dir, eval_dir)
    (eval_dir / "circle" / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(app, overlap_args(replace(image_world, eval_dir=eval_dir), tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "warning: --eval shapes: 1 of 9 images unreadable and left out of the audit" in result.output
