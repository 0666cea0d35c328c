"""`clip-audit demo` end to end on a small configuration, and its resume."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.contamination import TABLE_COLUMNS

runner = CliRunner()
SMALL = ["--quick"]  # the README's `clip-audit demo --quick`, in the default run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "run"
    result = runner.invoke(app, ["demo", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_writes_every_stage_and_the_contamination_table(demo_run) -> None:
    out, output = demo_run
    for path in ("eval/colors", "eval/counts", "pretraining", "plants.csv", "clip/checkpoint.pt",
                 "overlap/overlap_table_default.csv", "overlap/neighbours.parquet",
                 "probes/denigration/rates.csv", "probes/fairface/summary.json", "overlap/thresholds.json",
                 "overlap/labels.csv", "predictions/colors.csv", "results/contamination.json", "demo_summary.json",
                 "report.html", "report.pdf"):
        assert (out / path).exists(), path
    table = pd.read_csv(out / "results" / "contamination.csv")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert set(table["dataset"]) == {"colors", "counts"}
    assert (table["n_all"] == 80).all()
    summary = json.loads((out / "demo_summary.json").read_text())
    plants = pd.read_csv(out / "plants.csv")
    assert summary["planted_eval_images"] == plants["eval_id"].nunique() == 20
    assert summary["thresholds"]["counts"]["rule"] == summary["thresholds"]["colors"]["rule"] == "labels"
    default = summary["at_default_threshold"]
    assert default["thresholds"]["counts"]["rule"] == "detector_default"
    # the two-stage default path on the synthetic world: close to the planted share, not the whole set
    # issue 12's goal for the default path on the demo's synthetic world: within 3 points of the planted fraction
    assert abs(default["overlap_fraction"] - default["planted_fraction"]) <= 0.03, default
    assert default["detection_recall"] >= 0.8 and default["detection_precision"] >= 0.8, default
    assert set(summary["probes"]) == {"fairface", "denigration", "class-design", "labels", "surveillance", "identity"}
    predictions = pd.read_csv(out / "predictions" / "counts.csv")
    assert list(predictions.columns) == ["id", "prediction", "label", "correct"]
    assert "demo done" in output


def test_demo_resumes_without_redoing_stages(demo_run) -> None:
    out, _ = demo_run
    before = (out / "clip" / "checkpoint.pt").stat().st_mtime_ns
    result = runner.invoke(app, ["demo", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    assert (out / "clip" / "checkpoint.pt").stat().st_mtime_ns == before
    assert "trained" not in result.output
