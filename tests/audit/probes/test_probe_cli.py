"""`clip-audit probe NAME`: files written, resume on a rerun, clear errors."""
from __future__ import annotations

import json

import pandas as pd
import typer
from typer.testing import CliRunner

from audit.commands.probe import register


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        """Test application."""

    register(app)
    return app


def _fairface_args(fixture, checkpoint, out):
    return ["--model", str(checkpoint), "--data", str(fixture.fairface_root), "--labels", str(fixture.val_labels),
            "--schema", str(fixture.schema), "--out", str(out)]


def test_class_design_command_writes_and_resumes(probe_fixture, planted_checkpoint, tmp_path):
    runner = CliRunner()
    out = tmp_path / "class-design"
    result = runner.invoke(_app(), ["probe", "class-design", *_fairface_args(probe_fixture, planted_checkpoint, out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"rates.csv", "differences.csv", "predictions.csv", "summary.json",
                                               "provenance.json", "cache"}
    assert len(list((out / "cache").glob("features-*.npz"))) == 1
    assert "label_set" in pd.read_csv(out / "rates.csv").columns
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["request"]["command"] == "class-design"
    again = runner.invoke(_app(), ["probe", "class-design", *_fairface_args(probe_fixture, planted_checkpoint, out)])
    assert again.exit_code == 0 and "already in" in again.output


def test_surveillance_and_identity_commands(probe_fixture, planted_checkpoint, tmp_path):
    runner = CliRunner()
    result = runner.invoke(_app(), ["probe", "surveillance", "--model", str(planted_checkpoint),
                                    "--data", str(probe_fixture.surveillance_root),
                                    "--captions", str(probe_fixture.surveillance_captions), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "coarse_top1" in set(pd.read_csv(tmp_path / "s" / "rates.csv")["category"])
    result = runner.invoke(_app(), ["probe", "identity", "--model", str(planted_checkpoint),
                                    "--data", str(probe_fixture.celeba_root), "--identities", str(probe_fixture.identity_file),
                                    "--partitions", str(probe_fixture.partition_file), "--names", str(probe_fixture.names_file),
                                    "--candidates", "8", "--candidates", "16", "--out", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "i" / "rates.csv")["category"].tolist() == ["top1@8", "top1@16"]


def test_bad_input_is_a_clear_error(probe_fixture, planted_checkpoint, tmp_path):
    runner = CliRunner()
    result = runner.invoke(_app(), ["probe", "denigration", *_fairface_args(probe_fixture, planted_checkpoint, tmp_path)])
    assert result.exit_code == 0, result.output
    # FairFace's own spellings reject the fixture's abstract groups, naming file, column and value
    args = [a for a in _fairface_args(probe_fixture, planted_checkpoint, tmp_path / "x")]
    i = args.index("--schema")
    del args[i:i + 2]
    result = runner.invoke(_app(), ["probe", "fairface", *args])
    assert result.exit_code == 2
    assert "fairface_label_val.csv: column 'race' has unknown value 'group_" in result.output
    result = runner.invoke(_app(), ["probe", "fairface", "--model", str(tmp_path / "none.pt"), "--data", str(tmp_path),
                                    "--labels", str(probe_fixture.val_labels), "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "not found" in result.output
