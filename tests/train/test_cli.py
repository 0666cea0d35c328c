"""`clip-audit clip train` then `clip-audit clip eval` end to end on the synthetic world."""
from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from audit.cli import app


def test_train_then_eval(tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(app, ["clip", "train", "--data", "synthetic", "--model", "tiny", "--steps", "2",
                              "--batch-size", "8", "--out", str(run), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (run / "checkpoint.pt").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all({"loss", "logit_scale", "samples_per_s", "lr"} <= set(r) for r in records)

    ev = tmp_path / "eval"
    res = runner.invoke(app, ["clip", "eval", "--model", str(run / "checkpoint.pt"),
                              "--dataset", "synthetic:colors?n=20", "--out", str(ev)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((ev / "metrics.json").read_text())
    with open(ev / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "prediction", "label", "correct"]
    assert len(rows) == 20 and len({r["id"] for r in rows}) == 20
    for r in rows:
        assert r["correct"] == str(int(r["prediction"] == r["label"]))
    assert metrics["acc1"] == sum(int(r["correct"]) for r in rows) / 20
    assert 0 <= metrics["acc1"] <= metrics["acc5"] <= 1 and "mean_per_class_recall" in metrics


def test_eval_missing_checkpoint(tmp_path):
    res = CliRunner().invoke(app, ["clip", "eval", "--model", str(tmp_path / "none.pt"),
                                   "--dataset", "synthetic:colors", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "none.pt" in res.output


def test_train_bad_batch(tmp_path):
    res = CliRunner().invoke(app, ["clip", "train", "--steps", "1", "--batch-size", "6", "--accum-steps", "4",
                                   "--out", str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 2 and "accum_steps" in res.output


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    """A checkpoint trained for one step (shared by the probe tests)."""
    from clip_core.train import TrainConfig, train
    return train(TrainConfig(steps=1, batch_size=4, out=str(tmp_path_factory.mktemp("run")), progress=False))


def test_eval_with_probe(tmp_path, one_step_run):
    run = one_step_run
    ev = tmp_path / "eval"
    res = CliRunner().invoke(app, ["clip", "eval", "--model", str(run.checkpoint), "--dataset",
                                   "synthetic:colors?n=30", "--probe-train", "synthetic:colors?n=60&seed=5",
                                   "--out", str(ev), "--probe"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((ev / "metrics.json").read_text())
    lp = metrics["linear_probe"]
    assert lp["num_test"] == 30 and lp["num_train"] + lp["num_val"] == 60
    assert lp["train_source"] == "synthetic:colors?n=60&seed=5"
    assert 0 <= lp["acc1"] <= lp["acc5"] <= 1 and 1e-6 <= lp["C"] <= 1e6
    assert "1" in metrics["few_shot"] and "acc1" in metrics  # zero-shot keys stay at the top level


def test_eval_probe_needs_train_source(tmp_path, one_step_run):
    run = one_step_run
    folder = tmp_path / "imgs" / "cat"
    folder.mkdir(parents=True)
    from PIL import Image
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    res = CliRunner().invoke(app, ["clip", "eval", "--model", str(run.checkpoint), "--dataset",
                                   str(tmp_path / "imgs"), "--out", str(tmp_path / "o"), "--probe"])
    assert res.exit_code == 2 and "--probe-train" in res.output


def test_tokenizer_command_and_training_with_own_vocabulary(tmp_path) -> None:
    from typer.testing import CliRunner

    from audit.cli import app
    from clip_core.checkpoint import load

    runner = CliRunner()
    merges = tmp_path / "merges.txt.gz"
    result = runner.invoke(app, ["clip", "tokenizer", "--data", "synthetic?n=200", "--out", str(merges), "--vocab-size", "600"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    result = runner.invoke(app, ["clip", "train", "--data", "synthetic?n=200", "--steps", "2", "--batch-size", "8",
                                 "--out", str(out), "--tokenizer", str(merges), "--no-progress"])
    assert result.exit_code == 0, result.output
    model = load(out / "checkpoint.pt")
    assert model.vocab_size == model.get_tokenizer().vocab_size <= 600
    assert model.tokenize(["a photo of two red circles"]).max() < model.vocab_size
    bad = runner.invoke(app, ["clip", "tokenizer", "--data", str(tmp_path / "missing.csv"), "--out", str(merges)])
    assert bad.exit_code == 2 and "missing.csv" in bad.output
