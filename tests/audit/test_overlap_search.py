"""Overlap search on descriptors: recovery of planted copies, resume, IVF, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from detector.descriptor_files import read_descriptor_set, read_descriptor_shards
from audit.overlap_pipeline import run_overlap_search
from audit.overlap_run import PendingShard
from audit.overlap_search import EvalIndex, EvalSet, SearchConfig

runner = CliRunner()


def _eval_sets(world) -> list[EvalSet]:
    sets = []
    for name, folder in world.eval_dirs.items():
        shard = read_descriptor_set(folder)
        sets.append(EvalSet(name, shard.ids, shard.descriptors))
    return sets


def _pending(world) -> list[PendingShard]:
    return [PendingShard(s.name, (lambda s=s: s)) for s in read_descriptor_shards(world.pretraining_dir)]


def _overlap_args(world, out: Path, *extra: str) -> list[str]:
    args = ["overlap", "--pretraining", str(world.pretraining_dir), "--out", str(out)]
    for name, folder in world.eval_dirs.items():
        args += ["--eval", f"{name}={folder}"]
    return args + list(extra)


def test_flat_search_matches_brute_force(planted_world) -> None:
    sets = _eval_sets(planted_world)
    shard = next(iter(read_descriptor_shards(planted_world.pretraining_dir)))
    neighbours, matches = EvalIndex(sets, SearchConfig(top_k=3, block_elements=100)).search(shard.ids, shard.descriptors)
    for eval_set in sets:
        similarity = eval_set.descriptors @ shard.descriptors.T
        expected_top = np.sort(similarity, axis=1)[:, ::-1][:, :3]
        ours = neighbours[neighbours.dataset == eval_set.name].groupby("eval_id", sort=False)["similarity"].apply(list)
        np.testing.assert_allclose(np.array(ours.loc[eval_set.ids].tolist()), expected_top, atol=1e-5)
        best = matches[matches.dataset == eval_set.name].set_index("pretraining_id").loc[shard.ids]
        np.testing.assert_allclose(best["similarity"], similarity.max(axis=0), atol=1e-5)
        assert list(best["eval_id"]) == [eval_set.ids[i] for i in similarity.argmax(axis=0)]


def test_cli_recovers_planted_copies_and_writes_outputs(planted_world, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, _overlap_args(planted_world, out, "--default-threshold", "0.8"))
    assert result.exit_code == 0, result.output
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    scored = ["score", "inliers", "verified", "mirrored", "status"]  # descriptors only: score = similarity
    assert list(neighbours.columns) == ["dataset", "eval_id", "rank", "pretraining_id", "similarity", *scored]
    assert (neighbours["score"] == neighbours["similarity"]).all() and (neighbours["status"] == "unverified").all()
    assert set(neighbours["rank"]) == {1, 2, 3, 4, 5}
    matches = pd.read_parquet(out / "pretraining_matches.parquet")
    assert list(matches.columns) == ["pretraining_id", "dataset", "eval_id", "similarity", *scored]
    table = pd.read_csv(out / "overlap_table.csv")
    found = {(r.dataset, r.id) for r in table.itertuples() if r.in_overlap}
    truth = {(d, e) for d, e, _ in planted_world.planted}
    precision, recall = len(found & truth) / len(found), len(found & truth) / len(truth)
    assert precision >= 0.9 and recall >= 0.8, (precision, recall)
    drop = tmp_path / "drop.csv"
    result = runner.invoke(app, ["decontaminate", "--overlap", str(out), "--out", str(drop)])
    assert result.exit_code == 0, result.output
    dropped = pd.read_csv(drop)
    assert list(dropped.columns) == ["pretraining_id", "dataset", "eval_id", "similarity", *scored]
    assert (dropped["similarity"] >= 0.8).all()
    assert {(r.dataset, r.eval_id, r.pretraining_id) for r in dropped.itertuples()} == planted_world.planted


def test_killed_run_resumes_with_identical_outputs(planted_world, tmp_path: Path) -> None:
    config = SearchConfig(top_k=4)
    run_overlap_search(_eval_sets(planted_world), _pending(planted_world), tmp_path / "whole", config)

    class Killed(BaseException):  # like KeyboardInterrupt or a kill: not an error a shard retry catches
        pass

    def dying(shards: list[PendingShard], after: int) -> list[PendingShard]:
        def kill() -> None:
            raise Killed()

        return shards[:after] + [PendingShard(shards[after].name, kill)] + shards[after + 1:]

    with pytest.raises(Killed):
        run_overlap_search(_eval_sets(planted_world), dying(_pending(planted_world), 3), tmp_path / "resumed", config)
    assert len(list((tmp_path / "resumed" / "shards").glob("*.matches.parquet"))) == 3
    assert not list((tmp_path / "resumed" / "shards").glob("*.tmp"))
    summary = run_overlap_search(_eval_sets(planted_world), _pending(planted_world), tmp_path / "resumed", config)
    assert summary.shards_skipped == 3 and summary.shards_searched == summary.shards_total - 3
    for name in ("neighbours.parquet", "pretraining_matches.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / name), pd.read_parquet(tmp_path / "resumed" / name))


def test_ivf_index_finds_the_planted_copies(planted_world, tmp_path: Path) -> None:
    run_overlap_search(_eval_sets(planted_world), _pending(planted_world), tmp_path, SearchConfig(index="ivf", ivf_probe=64))
    matches = pd.read_parquet(tmp_path / "pretraining_matches.parquet")
    hits = matches[matches.similarity >= 0.8]
    assert {(r.dataset, r.eval_id, r.pretraining_id) for r in hits.itertuples()} == planted_world.planted


def test_dimension_mismatch_and_empty_sources_are_clear_errors(planted_world, tmp_path: Path) -> None:
    sets = _eval_sets(planted_world)
    with pytest.raises(ValueError, match="dimension 16"):
        EvalIndex(sets, SearchConfig()).search(["a"], np.ones((1, 16), np.float32) / 4)
    with pytest.raises(ValueError, match="empty"):
        EvalSet("none", [], np.zeros((0, 32), np.float32))
    with pytest.raises(ValueError, match="no shards"):
        run_overlap_search(sets, [], tmp_path, SearchConfig())
    small = tmp_path / "small"
    small.mkdir()
    np.save(small / "descriptors.npy", np.ones((2, 16), np.float32) / 4)
    (small / "ids.txt").write_text("a\nb\n")
    result = runner.invoke(app, ["overlap", "--pretraining", str(small), "--eval", f"cifar={planted_world.eval_dirs['cifar']}", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "does not match" in result.output


def test_descriptor_files_with_bad_content_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    np.save(folder / "descriptors.npy", np.ones((3, 4), np.float32))
    (folder / "ids.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="ids.txt: 2 ids but"):
        read_descriptor_set(folder)
    (folder / "ids.txt").write_text("a\na\nb\n")
    with pytest.raises(ValueError, match="repeated ids"):
        read_descriptor_set(folder)
    with pytest.raises(FileNotFoundError, match="not found"):
        list(read_descriptor_shards(tmp_path / "missing"))


def test_clip_retrieval_layout_is_read(tmp_path: Path) -> None:
    (tmp_path / "img_emb").mkdir()
    (tmp_path / "metadata").mkdir()
    np.save(tmp_path / "img_emb" / "img_emb_0.npy", np.eye(3, dtype=np.float32))
    pd.DataFrame({"image_path": ["x.jpg", "y.jpg", "z.jpg"], "caption": ["a", "b", "c"]}).to_parquet(tmp_path / "metadata" / "metadata_0.parquet")
    shard = read_descriptor_set(tmp_path)
    assert shard.ids == ["x.jpg", "y.jpg", "z.jpg"] and shard.descriptors.shape == (3, 3)
