"""`clip-audit contamination --config audit.toml` and the errors of image mode's inputs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.contamination_config import ImageAuditConfig, load_config

runner = CliRunner()


def _toml(planted_audit, out_name: str) -> str:
    """The planted descriptor run as a TOML file, paths relative to the planted root."""
    return f"""
pretraining = "pretraining_descriptors"
out = "{out_name}"
labels = "labels.csv"
verify = false

[eval]
shapes = "eval_descriptors/shapes"
colors = "eval_descriptors/colors"

[predictions]
shapes = "predictions/shapes.csv"
colors = "predictions/colors.csv"

[thresholds]
colors = 0.99
"""


def test_config_file_runs_the_same_audit_as_the_options(descriptor_run, planted_audit) -> None:
    assert descriptor_run.exit_code == 0, descriptor_run.output
    path = planted_audit.root / "audit.toml"
    path.write_text(_toml(planted_audit, "toml_run"))
    result = runner.invoke(app, ["contamination", "--config", str(path)])
    assert result.exit_code == 0, result.output
    from_options = pd.read_csv(descriptor_run.out / "contamination.csv")
    from_file = pd.read_csv(planted_audit.root / "toml_run" / "contamination.csv")
    pd.testing.assert_frame_equal(from_options, from_file)


def test_config_paths_are_relative_to_the_file(planted_audit, tmp_path: Path) -> None:
    path = planted_audit.root / "relative.toml"
    path.write_text(_toml(planted_audit, "elsewhere"))
    config = load_config(path)
    assert config.out == planted_audit.root / "elsewhere"
    assert Path(config.eval_sources["shapes"]) == planted_audit.eval_descriptors["shapes"]
    assert config.thresholds == {"colors": 0.99} and config.verify is False and config.model is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('pretraining = "p"\nout = "o"\nmodle = "typo.pt"\n[eval]\na = "x"\n', "unknown key(s) ['modle']"),
        ('pretraining = "p"\nout = "o"\n[eval]\na = "x"\n', "--model CKPT or --predictions"),
        ('pretraining = "p"\nout = "o"\nmodel = "m.pt"\n[eval]\na = "x"\n[thresholds]\nb = 0.5\n', "--threshold names dataset(s) ['b']"),
        ('pretraining = "p"\nout = "o"\n[eval]\na = 3\n', "[eval] must be a table"),
        ('pretraining = "p"\nout = \n', "not valid TOML"),
    ],
)
def test_bad_config_files_name_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    result = runner.invoke(app, ["contamination", "--config", str(path)])
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output


def test_config_cannot_be_mixed_with_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["contamination", "--config", str(tmp_path / "a.toml"), "--eval", "a=b"])
    assert result.exit_code == 2 and "--config holds the whole run" in result.output


def test_missing_predictions_file_is_reported_before_any_search(planted_audit, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    args = ["contamination", "--pretraining", str(planted_audit.pretraining_descriptors), "--out", str(tmp_path / "out"),
            "--eval", f"shapes={planted_audit.eval_descriptors['shapes']}", "--predictions", f"shapes={missing}",
            "--threshold", "shapes=0.9", "--no-verify"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and str(missing) in result.output
    assert not (tmp_path / "out" / "neighbours.parquet").exists()


def test_predictions_missing_examples_name_the_dataset(planted_audit, make_predictions, tmp_path: Path) -> None:
    planted, _ = make_predictions
    partial = tmp_path / "partial.csv"
    planted(planted_audit, "shapes", 0.9, 0.5, seed=0).iloc[5:].to_csv(partial, index=False)
    args = ["contamination", "--pretraining", str(planted_audit.pretraining_descriptors), "--out", str(tmp_path / "out"),
            "--eval", f"shapes={planted_audit.eval_descriptors['shapes']}", "--predictions", f"shapes={partial}",
            "--threshold", "shapes=0.9", "--no-verify"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "dataset 'shapes'" in result.output and "5 example(s) without a prediction" in result.output


def test_model_needs_image_sources(planted_audit, tmp_path: Path) -> None:
    args = ["contamination", "--pretraining", str(planted_audit.pretraining_descriptors), "--out", str(tmp_path / "out"),
            "--eval", f"shapes={planted_audit.eval_descriptors['shapes']}", "--model", str(tmp_path / "m.pt"),
            "--threshold", "shapes=0.9", "--no-verify"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "descriptor folder" in result.output


def test_config_validation_rejects_model_with_predictions() -> None:
    with pytest.raises(ValueError, match="either --model or --predictions"):
        ImageAuditConfig(pretraining="p", eval_sources={"a": "x"}, out=Path("o"), model=Path("m.pt"),
                         predictions={"a": Path("a.csv")})


def test_image_mode_thresholds_must_lie_in_the_score_range(planted_audit, tmp_path: Path) -> None:
    args = ["contamination", "--pretraining", str(planted_audit.pretraining_descriptors), "--out", str(tmp_path / "out"),
            "--eval", f"shapes={planted_audit.eval_descriptors['shapes']}", "--model", str(tmp_path / "m.pt"),
            "--threshold", "shapes=-0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "[0, 1]" in result.output
