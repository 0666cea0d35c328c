"""A rerun of `clip-audit overlap` with other settings stops, names the difference and mixes nothing; --overwrite starts over."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from tests.audit.overlap_image_world import ImageWorld, build_image_world, overlap_args

runner = CliRunner()


def _descriptor_args(world, out: Path, eval_dirs: dict[str, Path] | None = None, *extra: str) -> list[str]:
    args = ["overlap", "--pretraining", str(world.pretraining_dir), "--out", str(out), "--default-threshold", "0.8"]
    for name, folder in (eval_dirs or world.eval_dirs).items():
        args += ["--eval", f"{name}={folder}"]
    return args + list(extra)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under a folder with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def image_world(tmp_path_factory) -> ImageWorld:
    return build_image_world(tmp_path_factory.mktemp("resume_world"))


def test_rerun_with_another_top_k_or_eval_set_stops_and_overwrite_starts_over(planted_world, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, _descriptor_args(planted_world, out, None, "--top-k", "5"))
    assert first.exit_code == 0, first.output
    assert json.loads((out / "overlap.settings.json").read_text())["parameters"]["top_k"] == 5
    before = _snapshot(out / "shards") | {"neighbours": (out / "neighbours.parquet").stat().st_mtime_ns}

    other_k = runner.invoke(app, _descriptor_args(planted_world, out, None, "--top-k", "3"))
    assert other_k.exit_code == 2, other_k.output
    assert "parameters.top_k: 5 -> 3" in other_k.output and "--overwrite" in other_k.output
    swapped = {"cifar": planted_world.eval_dirs["birds"], "birds": planted_world.eval_dirs["cifar"]}
    other_eval = runner.invoke(app, _descriptor_args(planted_world, out, swapped, "--top-k", "5"))
    assert other_eval.exit_code == 2, other_eval.output
    assert "inputs.eval:cifar.location:" in other_eval.output and "eval_birds" in other_eval.output
    assert _snapshot(out / "shards") | {"neighbours": (out / "neighbours.parquet").stat().st_mtime_ns} == before
    assert set(pd.read_parquet(out / "neighbours.parquet")["rank"]) == {1, 2, 3, 4, 5}

    (out / "labels.csv").write_text("dataset,eval_id,pretraining_id,is_duplicate\n")
    again = runner.invoke(app, _descriptor_args(planted_world, out, None, "--top-k", "3", "--overwrite"))
    assert again.exit_code == 0, again.output
    assert "searched 7 shard(s), skipped 0 already done" in again.output
    assert (out / "labels.csv").is_file()
    fresh = runner.invoke(app, _descriptor_args(planted_world, tmp_path / "fresh", None, "--top-k", "3"))
    assert fresh.exit_code == 0, fresh.output
    for name in ("neighbours.parquet", "pretraining_matches.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(tmp_path / "fresh" / name))
    resumed = runner.invoke(app, _descriptor_args(planted_world, out, None, "--top-k", "3"))
    assert resumed.exit_code == 0 and "searched 0 shard(s), skipped 7 already done" in resumed.output, resumed.output


def test_rerun_with_another_detector_stops_before_embedding(image_world: ImageWorld, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, overlap_args(image_world, out))
    assert first.exit_code == 0, first.output
    before = _snapshot(out)
    other = runner.invoke(app, overlap_args(image_world, out, detector=image_world.detector_b))
    assert other.exit_code == 2, other.output
    assert "model.sha256:" in other.output and "--overwrite" in other.output
    assert _snapshot(out) == before  # neither the evaluation embedding nor any shard result was touched

    restarted = runner.invoke(app, overlap_args(image_world, out, None, image_world.detector_b, "--overwrite"))
    assert restarted.exit_code == 0, restarted.output
    fresh = runner.invoke(app, overlap_args(image_world, tmp_path / "fresh", detector=image_world.detector_b))
    assert fresh.exit_code == 0, fresh.output
    for name in ("neighbours.parquet", "pretraining_matches.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(tmp_path / "fresh" / name))
    embedded = json.loads((out / "eval" / "shapes" / "embed.settings.json").read_text())
    assert embedded["model"]["sha256"] == json.loads((out / "overlap.settings.json").read_text())["model"]["sha256"]
