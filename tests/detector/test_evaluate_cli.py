from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from audit.cli import app
from detector import checkpoint as C
from detector.augment import apply_family
from detector.evaluate import evaluate_method, evaluate_scores, read_ground_truth, top_k_predictions
from tests.detector.conftest import make_image


@pytest.fixture
def copy_set(tmp_path):
    """6 references, 3 flipped and 3 resized copies as queries, and the ground truth."""
    refs, queries = tmp_path / "refs", tmp_path / "queries"
    refs.mkdir()
    queries.mkdir()
    rows = ["query_id,reference_id,family"]
    for i in range(6):
        img = make_image(100 + i, (96, 80))
        img.save(refs / f"r{i}.png")
        fam = "flip" if i < 3 else "resize"
        apply_family(fam, img, np.random.default_rng(i)).save(queries / f"q{i}.png")
        rows.append(f"q{i}.png,r{i}.png,{fam}")
    gt = tmp_path / "gt.csv"
    gt.write_text("\n".join(rows) + "\n")
    return refs, queries, gt


def test_top_k_and_per_family_report():
    scores = np.array([[0.9, 0.1, 0.2], [0.3, 0.2, 0.8]])
    preds = top_k_predictions(["a", "b"], ["x", "y", "z"], scores, 2)
    assert sorted(preds) == sorted([("a", "x", 0.9), ("a", "z", 0.2), ("b", "z", 0.8), ("b", "x", 0.3)])
    from detector.evaluate import GroundTruth

    gt = GroundTruth([("a", "x"), ("b", "y")], {"a": "flip", "b": "crop"})
    report = evaluate_scores("m", ["a", "b"], ["x", "y", "z"], scores, gt, top_k=2)
    assert report.families["flip"].micro_ap == pytest.approx(1.0)
    assert report.families["crop"].micro_ap == pytest.approx(0.0)
    assert report.overall.micro_ap == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not among"):
        evaluate_scores("m", ["a"], ["x", "y", "z"], scores[:1], gt)


def test_read_ground_truth_errors(tmp_path):
    bad = tmp_path / "gt.csv"
    bad.write_text("query,reference\nq,r\n")
    with pytest.raises(ValueError, match="query_id"):
        read_ground_truth(bad)
    with pytest.raises(FileNotFoundError):
        read_ground_truth(tmp_path / "none.csv")


def test_phash_finds_resized_copies_but_not_flips(copy_set):
    refs, queries, gt = copy_set
    report = evaluate_method("phash", str(refs), str(queries), gt)
    assert report.n_queries == 6 and report.n_references == 6
    assert report.families["resize"].micro_ap > report.families["flip"].micro_ap
    assert report.families["resize"].accuracy_at_1 == 1.0


def test_cli_embed_and_eval_with_a_checkpoint(tmp_path, copy_set, tiny_config):
    refs, queries, gt = copy_set
    from detector.model import build_detector

    ckpt = tmp_path / "det.pt"
    C.save_detector(build_detector(tiny_config), ckpt)
    runner = CliRunner()
    res = runner.invoke(app, ["embed", "--images", str(refs), "--out", str(tmp_path / "emb"), "--detector", str(ckpt),
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "emb" / "descriptors.npy").shape == (6, 32)
    res = runner.invoke(app, ["detector", "eval", "--references", str(tmp_path / "emb"), "--queries", str(queries),
                              "--ground-truth", str(gt), "--method", str(ckpt), "--device", "cpu",
                              "--out", str(tmp_path / "report.json")])
    assert res.exit_code == 0, res.output
    assert "µAP" in res.output and "flip" in res.output and "resize" in res.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert 0.0 <= report["overall"]["micro_ap"] <= 1.0
    res = runner.invoke(app, ["detector", "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "small.pt"),
                              "--threshold", "0.7"])
    assert res.exit_code == 0, res.output
    assert C.load_detector(tmp_path / "small.pt").metadata["threshold"] == 0.7
    res = runner.invoke(app, ["detector", "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "d4.pt"),
                              "--orbit", "dihedral"])
    assert res.exit_code == 0, res.output
    assert C.load_detector(tmp_path / "d4.pt").config.orbit == "dihedral"
    res = runner.invoke(app, ["detector", "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.pt"),
                              "--orbit", "c4"])
    assert res.exit_code == 2 and "orbit" in res.output


def test_cli_clear_errors(tmp_path, monkeypatch, image_folder):
    monkeypatch.setattr(C, "DEFAULT_WEIGHTS", tmp_path / "missing" / "default.pt")
    runner = CliRunner()
    res = runner.invoke(app, ["embed", "--images", str(image_folder), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "default detector weights are missing" in res.output
    res = runner.invoke(app, ["detector", "train", "--images", str(image_folder), "--out", str(tmp_path / "t"),
                              "--trunk", "huge"])
    assert res.exit_code == 2 and "--trunk" in res.output
    res = runner.invoke(app, ["detector", "train", "--images", str(image_folder), "--out", str(tmp_path / "t"),
                              "--recipe", "fancy"])
    assert res.exit_code == 2 and "--recipe" in res.output
    res = runner.invoke(app, ["detector", "train", "--images", str(image_folder), "--out", str(tmp_path / "t"),
                              "--input-mode", "hsv"])
    assert res.exit_code == 2 and "input_mode" in res.output


def test_cli_train_tiny(tmp_path, image_folder):
    res = CliRunner().invoke(app, ["detector", "train", "--images", str(image_folder), "--out", str(tmp_path / "t"),
                                   "--trunk", "tiny", "--dim", "16", "--input-size", "32", "--batch-size", "4",
                                   "--epochs", "1", "--workers", "0", "--device", "cpu", "--warmup-steps", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t" / "detector.pt").is_file() and (tmp_path / "t" / "metrics.jsonl").is_file()
    res = CliRunner().invoke(app, ["detector", "train", "--images", str(image_folder), "--out", str(tmp_path / "l"),
                                   "--trunk", "tiny", "--dim", "16", "--input-size", "32", "--batch-size", "8",
                                   "--epochs", "1", "--workers", "0", "--device", "cpu", "--warmup-steps", "1",
                                   "--recipe", "photo-tiles", "--input-mode", "luma", "--all-views"])
    assert res.exit_code == 0, res.output
    assert "trained 6 steps" in res.output  # 12 images x 4 tiles / 8 pairs per batch
    assert C.load_detector(tmp_path / "l" / "detector.pt").config.input_mode == "luma"


def test_clip_method_scores_with_a_clip_core_checkpoint(tmp_path, copy_set):
    from clip_core.checkpoint import save_checkpoint
    from clip_core.config import get_preset
    from clip_core.model import CLIP

    refs, queries, gt = copy_set
    save_checkpoint(tmp_path / "clip.pt", CLIP(get_preset("tiny"), "gelu"))
    report = evaluate_method(f"clip:{tmp_path / 'clip.pt'}", str(refs), str(queries), gt)
    assert report.n_queries == 6 and report.n_references == 6
    assert 0.0 <= report.overall.micro_ap <= 1.0 and set(report.families) == {"flip", "resize"}
