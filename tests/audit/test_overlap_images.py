"""`clip-audit overlap` on images: WebDataset pre-training shards, a detector checkpoint, skipped images."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data import open_source
from clip_core.data.writers import write_image_folder, write_webdataset
from detector.checkpoint import save_detector
from detector.config import TINY, DetectorConfig
from detector.model import build_detector

runner = CliRunner()


@pytest.fixture(scope="module")
def image_world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    evaluation = [(e.id.replace("/", "_"), e.image, e.label) for e in open_source("synthetic:shapes?n=16&seed=3&size=48")]
    written = write_image_folder(evaluation, root / "eval", text_field="label")
    distractors = [(f"web{i:03d}", e.image, "a picture") for i, e in enumerate(open_source("synthetic?n=40&seed=9&size=48"))]
    copies = [(f"copy{i:03d}", image, "a copy") for i, (_, image, _) in enumerate(evaluation[:5])]
    write_webdataset(distractors + copies, root / "pretraining", shard_size=15, ext="png")
    with tarfile.open(root / "pretraining" / "00000.tar", "a") as archive:  # one corrupt image
        payload = b"definitely not a png"
        info = tarfile.TarInfo("broken001.png")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    torch.manual_seed(0)  # the random detector must not depend on the tests that ran before
    torch_model = build_detector(DetectorConfig(trunk=TINY, dim=32, input_size=48))
    save_detector(torch_model, root / "detector.pt", fold=True)
    planted = {written.ids[eval_id]: f"copy{i:03d}" for i, (eval_id, _, _) in enumerate(evaluation[:5])}
    return {"root": root, "eval": root / "eval", "pretraining": root / "pretraining", "detector": root / "detector.pt", "planted": planted}


def test_exact_copies_are_found_and_corrupt_images_counted(image_world) -> None:
    out = image_world["root"] / "run"
    args = ["overlap", "--pretraining", str(image_world["pretraining"]), "--eval", f"shapes={image_world['eval']}",
            "--detector", str(image_world["detector"]), "--threshold", "shapes=0.9999", "--out", str(out),
            "--max-skipped-fraction", "0.05",  # 1 corrupt image of 46
            "--no-verify"]  # flat 48-px shapes have too few keypoints for geometry: the global similarity decides
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "overlap_table.csv")
    assert len(table) == 16
    assert set(table.loc[table["in_overlap"] == 1, "id"]) == set(image_world["planted"])
    drop = image_world["root"] / "drop.csv"
    assert runner.invoke(app, ["decontaminate", "--overlap", str(out), "--out", str(drop)]).exit_code == 0
    pairs = {(r.eval_id, r.pretraining_id) for r in pd.read_csv(drop, dtype=str).itertuples()}
    assert pairs == set(image_world["planted"].items())
    skipped = pd.concat([pd.read_csv(p) for p in (out / "skipped").glob("*.csv")])
    assert list(skipped["id"]) == ["broken001"]
    assert (out / "sources.json").is_file()
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "skipped" in again.output
    pd.testing.assert_frame_equal(table, pd.read_csv(out / "overlap_table.csv"))
