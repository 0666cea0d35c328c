"""The Ray engine against the local one: identical tables on a planted scenario, and killed shards redone.

A local Ray cluster (2 CPUs) is started once for the module; every run here joins it. Ray's actors
run torch on one thread each, so the local runs here do too: oneDNN's convolutions can differ in
the last bit of float32 between thread counts (docs/scaling.md), and the tables are compared exactly.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from audit.cli import app
from audit.overlap_pipeline import FAILED_SHARDS_FILE, run_overlap_search
from audit.overlap_run import PendingShard
from audit.overlap_search import EvalSet, SearchConfig
from clip_core.data.writers import write_image_folder, write_webdataset
from clip_core.engines import ShardsFailed
from clip_core.engines.ray_engine import RayEngine, import_ray
from detector.descriptor_files import DescriptorShard, read_descriptor_set, read_descriptor_shards
from tests.audit.planted_scenes import copy_of, scene

ray = import_ray()
runner = CliRunner()
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this test module


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster for the module's runs."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture()
def one_thread():
    """Torch on one thread in this process, as in each Ray actor."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class PlantedImages:
    """An evaluation folder, WebDataset pre-training shards with augmented copies, the answer key."""

    eval_dir: Path
    pretraining: Path
    planted: frozenset[str]  # evaluation ids with a copy in the pre-training data


@pytest.fixture(scope="module")
def planted_images(tmp_path_factory: pytest.TempPathFactory) -> PlantedImages:
    """16 photo-like evaluation images; copies of every other one among 40 distractors in 4 shards."""
    root = tmp_path_factory.mktemp("ray_planted")
    evaluation = [(f"eval{i:02d}", scene(i), None) for i in range(16)]
    written = write_image_folder(evaluation, root / "eval")
    copies = [(f"copy{i:02d}", copy_of(evaluation[i][1], 500 + i), "a copy") for i in range(0, 16, 2)]
    distractors = [(f"web{i:03d}", scene(20_000 + i), "a picture") for i in range(40)]
    order = np.random.default_rng(1).permutation(len(copies) + len(distractors))
    write_webdataset([(copies + distractors)[i] for i in order], root / "pretraining", shard_size=12, ext="jpg")
    planted = frozenset(written.ids[f"eval{i:02d}"] for i in range(0, 16, 2))
    return PlantedImages(root / "eval", root / "pretraining", planted)


def _overlap(world: PlantedImages, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["overlap", "--pretraining", str(world.pretraining), "--eval", f"photos={world.eval_dir}",
                                 "--detector", "default", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output


def test_ray_and_local_engines_write_identical_tables(planted_images: PlantedImages, ray_cluster, one_thread,
                                                      tmp_path: Path) -> None:
    _overlap(planted_images, tmp_path / "local")
    _overlap(planted_images, tmp_path / "ray", "--engine", "ray", "--ray-workers", "2")
    for name in ("neighbours.parquet", "pretraining_matches.parquet"):
        local, on_ray = pd.read_parquet(tmp_path / "local" / name), pd.read_parquet(tmp_path / "ray" / name)
        assert len(local) > 0
        pd.testing.assert_frame_equal(local, on_ray, check_exact=True)
    assert (tmp_path / "local" / "overlap_table.csv").read_text() == (tmp_path / "ray" / "overlap_table.csv").read_text()
    table = pd.read_csv(tmp_path / "ray" / "overlap_table.csv", dtype={"id": str})
    found = set(table.loc[table["in_overlap"] == 1, "id"])
    assert len(found & planted_images.planted) >= 7 and len(found - planted_images.planted) <= 1, sorted(found)
    assert table["verified"].sum() >= 7  # the verification stage ran in the Ray workers


def test_embed_on_ray_writes_the_local_descriptors(planted_images: PlantedImages, ray_cluster, one_thread,
                                                   tmp_path: Path) -> None:
    for engine in ("local", "ray"):
        result = runner.invoke(app, ["embed", "--images", str(planted_images.pretraining), "--out", str(tmp_path / engine),
                                     "--engine", engine])
        assert result.exit_code == 0, result.output
    local, on_ray = read_descriptor_set(tmp_path / "local"), read_descriptor_set(tmp_path / "ray")
    assert local.ids == on_ray.ids and len(local.ids) == 48
    np.testing.assert_array_equal(local.descriptors, on_ray.descriptors)


@dataclass(frozen=True)
class KilledWhileMarked:
    """Loads a descriptor shard, but kills its worker process outright while the marker file exists."""

    shard: DescriptorShard
    marker: Path
    remove_marker: bool  # True: the first death removes it (a one-off crash); False: dies every time

    def __call__(self) -> DescriptorShard:
        if self.marker.exists():
            if self.remove_marker:
                self.marker.unlink()
            os._exit(1)  # no exception, no clean-up: the process is gone, as with a kill or an OOM
        return self.shard


def _eval_sets(world) -> list[EvalSet]:
    return [EvalSet(name, s.ids, s.descriptors) for name, folder in world.eval_dirs.items()
            for s in [read_descriptor_set(folder)]]


def _shards(world, marker: Path, remove_marker: bool) -> list[PendingShard]:
    shards = list(read_descriptor_shards(world.pretraining_dir))
    return [PendingShard(s.name, KilledWhileMarked(s, marker, remove_marker) if i == 2 else (lambda s=s: s))
            for i, s in enumerate(shards)]


def test_a_killed_shard_is_retried_and_a_lasting_failure_is_redone_on_rerun(planted_world, ray_cluster, tmp_path: Path) -> None:
    config = SearchConfig(top_k=4)
    run_overlap_search(_eval_sets(planted_world), _shards(planted_world, tmp_path / "none", True), tmp_path / "clean", config)
    expected = {name: pd.read_parquet(tmp_path / "clean" / name) for name in ("neighbours.parquet", "pretraining_matches.parquet")}

    once = tmp_path / "once.marker"
    once.touch()
    summary = run_overlap_search(_eval_sets(planted_world), _shards(planted_world, once, True), tmp_path / "retried",
                                 config, engine=RayEngine(workers=2, retries=1))
    assert not once.exists() and summary.shards_searched == summary.shards_total  # redone on a new worker
    for name, table in expected.items():
        pd.testing.assert_frame_equal(table, pd.read_parquet(tmp_path / "retried" / name))

    lasting = tmp_path / "lasting.marker"
    lasting.touch()
    out = tmp_path / "rerun"
    with pytest.raises(ShardsFailed, match="1 shard"):
        run_overlap_search(_eval_sets(planted_world), _shards(planted_world, lasting, False), out, config,
                           engine=RayEngine(workers=2, retries=1))
    assert "2 attempts" not in (out / FAILED_SHARDS_FILE).read_text() and '"attempts": 2' in (out / FAILED_SHARDS_FILE).read_text()
    assert not (out / "neighbours.parquet").exists()  # no partial table
    lasting.unlink()
    summary = run_overlap_search(_eval_sets(planted_world), _shards(planted_world, lasting, False), out, config,
                                 engine=RayEngine(workers=2))
    assert summary.shards_searched == 1 and summary.shards_skipped == summary.shards_total - 1
    assert not (out / FAILED_SHARDS_FILE).exists()
    for name, table in expected.items():
        pd.testing.assert_frame_equal(table, pd.read_parquet(out / name))
