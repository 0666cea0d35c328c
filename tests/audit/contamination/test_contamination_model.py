"""Image mode end to end with `--model`: zero-shot predictions of a tiny clip_core model trained on the synthetic world."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.provenance import sha256_path

runner = CliRunner()


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny clip_core checkpoint, trained for a few steps on the synthetic caption stream."""
    from clip_core.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_clip")
    train(TrainConfig(data="synthetic", model="tiny", steps=4, batch_size=16, seed=0, out=str(out), progress=False))
    return out / "checkpoint.pt"


@pytest.fixture(scope="session")
def random_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny detector: it tells only pixel-identical images apart reliably (similarity 1)."""
    import torch

    from detector.checkpoint import save_detector
    from detector.config import TINY, DetectorConfig
    from detector.model import build_detector

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("detector") / "detector.pt"
    save_detector(build_detector(DetectorConfig(trunk=TINY, dim=32, input_size=48)), path, fold=True)
    return path


@pytest.fixture(scope="session")
def model_run(planted_audit, tiny_clip, random_detector) -> dict:
    """The shapes set (plus one corrupt file) audited with --model on images."""
    root = planted_audit.root / "model_run"
    shapes = root / "shapes"
    shutil.copytree(planted_audit.eval_images["shapes"], shapes)
    (shapes / "circle" / "broken.png").write_bytes(b"not an image at all")
    out = root / "out"
    args = ["contamination", "--pretraining", str(planted_audit.pretraining_images), "--eval", f"shapes={shapes}",
            "--model", str(tiny_clip), "--detector", str(random_detector), "--threshold", "shapes=0.999999",
            "--classnames", "shapes=synthetic:shapes", "--templates", "shapes=synthetic:shapes", "--no-verify",
            "--bootstrap-resamples", "2000", "--out", str(out)]
    result = runner.invoke(app, args)
    return {"out": out, "shapes": shapes, "args": args, "result": result}


def test_model_predictions_are_clip_cores_zero_shot(model_run, tiny_clip) -> None:
    from clip_core.checkpoint import load
    from clip_core.data import open_classification
    from clip_core.zeroshot import evaluate_zero_shot

    assert model_run["result"].exit_code == 0, model_run["result"].output
    written = pd.read_csv(model_run["out"] / "predictions" / "shapes.csv", dtype={"id": str})
    dataset = open_classification(str(model_run["shapes"]), classnames="synthetic:shapes", templates="synthetic:shapes")
    expected = evaluate_zero_shot(load(tiny_clip), dataset)
    assert written["id"].tolist() == [p["id"] for p in expected.predictions]
    assert written["prediction"].tolist() == [p["prediction"] for p in expected.predictions]
    examples = pd.read_csv(model_run["out"] / "overlap_examples.csv", dtype={"id": str})
    assert len(examples) == 80 and examples["correct"].sum() == sum(p["correct"] for p in expected.predictions)


def test_exact_copies_are_found_and_the_corrupt_image_is_counted(model_run, planted_audit) -> None:
    assert model_run["result"].exit_code == 0, model_run["result"].output
    examples = pd.read_csv(model_run["out"] / "overlap_examples.csv", dtype={"id": str})
    assert set(examples.loc[examples.in_overlap == 1, "id"]) == planted_audit.exact
    document = json.loads((model_run["out"] / "contamination.json").read_text())
    (shapes,) = document["datasets"]
    assert shapes["n_unreadable_images"] == 1 and shapes["n_all"] == 80


def test_provenance_names_model_detector_and_command(model_run, tiny_clip, random_detector) -> None:
    assert model_run["result"].exit_code == 0, model_run["result"].output
    provenance = json.loads((model_run["out"] / "provenance.json").read_text())
    assert provenance["model"] == {"path": str(tiny_clip), "sha256": sha256_path(tiny_clip)}
    assert provenance["detector"]["sha256"] == sha256_path(random_detector)
    assert provenance["settings"]["prompts"]["shapes"] == {"classnames": "synthetic:shapes", "templates": "synthetic:shapes"}
    assert "--model" in provenance["command_line"] and provenance["tool_version"]
    from PIL import Image

    with Image.open(io.BytesIO((model_run["out"] / "figure_overlap.png").read_bytes())) as png:
        assert json.loads(png.info["Description"])["model"]["sha256"] == sha256_path(tiny_clip)


def test_rerun_reuses_stored_predictions(model_run) -> None:
    assert model_run["result"].exit_code == 0, model_run["result"].output
    predictions = model_run["out"] / "predictions" / "shapes.csv"
    stamp = predictions.stat().st_mtime_ns
    again = runner.invoke(app, model_run["args"])
    assert again.exit_code == 0, again.output
    assert predictions.stat().st_mtime_ns == stamp and "zero-shot" not in again.output
