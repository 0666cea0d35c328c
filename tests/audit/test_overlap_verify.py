"""`clip-audit overlap` with its second stage: verified scores, resumable feature stores, loud shares, inspect."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data.writers import write_image_folder, write_webdataset
from detector.checkpoint import DEFAULT_WEIGHTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detector"))
from test_match import copy_of, photo_tiles  # noqa: E402

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the default detector is not shipped")
runner = CliRunner()


@pytest.fixture(scope="module")
def verified_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("verified")
    tiles = photo_tiles()
    evaluation = [(f"eval{i:02d}", tile, None) for i, tile in enumerate(tiles[:12])]
    written = write_image_folder(evaluation, root / "eval")
    planted = {written.ids[f"eval{i:02d}"]: f"copy{i:02d}" for i in (0, 2, 4, 6)}
    copies = [(f"copy{i:02d}", copy_of(tiles[i], 500 + i), "a copy") for i in (0, 2, 4, 6)]
    distractors = [(f"web{i:02d}", tile, "a photo") for i, tile in enumerate(tiles[12:40])]
    order = np.random.default_rng(1).permutation(len(copies) + len(distractors))
    write_webdataset([(copies + distractors)[i] for i in order], root / "pretraining", shard_size=16, ext="jpg")
    out = root / "overlap"
    args = ["overlap", "--pretraining", str(root / "pretraining"), "--eval", f"tiles={root / 'eval'}", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return {"root": root, "out": out, "planted": planted, "args": args, "output": result.output}


def test_planted_copies_verify_at_the_default_threshold(verified_run) -> None:
    table = pd.read_csv(verified_run["out"] / "overlap_table.csv", dtype={"id": str})
    assert list(table.columns) == ["dataset", "id", "similarity", "score", "inliers", "verified", "in_overlap"]
    found = set(table.loc[table["in_overlap"] == 1, "id"])
    assert found == set(verified_run["planted"]), (found, verified_run["planted"])
    assert (table.loc[table["in_overlap"] == 1, "verified"] == 1).all()
    neighbours = pd.read_parquet(verified_run["out"] / "neighbours.parquet")
    best = neighbours[neighbours["rank"] == 1].set_index("eval_id")
    for eval_id, copy in verified_run["planted"].items():
        assert best.loc[eval_id, "pretraining_id"] == copy and best.loc[eval_id, "status"] in ("verified", "dense")
    assert neighbours["score"].between(0, 1).all()
    assert "verified)" in verified_run["output"]


def test_feature_stores_are_reused_on_a_rerun(verified_run) -> None:
    store = verified_run["out"] / "eval" / "tiles" / "local_features"
    before = {p.name: p.stat().st_mtime_ns for p in store.iterdir()}
    result = runner.invoke(app, verified_run["args"])
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in store.iterdir()} == before
    assert "skipped 2 already done" in result.output


def test_a_threshold_flagging_most_of_a_set_is_reported(verified_run) -> None:
    result = runner.invoke(app, [*verified_run["args"], "--threshold", "tiles=0.01"])
    assert result.exit_code == 0, result.output
    assert "implausible" in result.output and "clip-audit inspect" in result.output
    import json

    summary = json.loads((verified_run["out"] / "overlap_summary.json").read_text())
    assert summary["warnings"] and "tiles" in summary["warnings"][0]


def test_inspect_shows_the_matches_and_the_transform(verified_run, tmp_path: Path) -> None:
    page = tmp_path / "inspect.html"
    result = runner.invoke(app, ["inspect", "--overlap", str(verified_run["out"]), "--dataset", "tiles", "--count", "60",
                                 "--threshold", "0.5", "--out", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert 'class="matches"' in html and "inliers, covers" in html and "scale" in html


def test_no_verify_scores_are_the_global_similarity(verified_run, tmp_path: Path) -> None:
    out = tmp_path / "global"
    args = [a if a != str(verified_run["out"]) else str(out) for a in verified_run["args"]]
    result = runner.invoke(app, [*args, "--no-verify", "--threshold", "tiles=0.95"])
    assert result.exit_code == 0, result.output
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    assert (neighbours["score"] == neighbours["similarity"].astype(float)).all()
    assert (neighbours["status"] == "unverified").all()
