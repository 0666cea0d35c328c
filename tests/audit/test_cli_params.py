"""Command-line values are checked where they are parsed; boolean options are --flag/--no-flag pairs."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from audit.cli import app
from audit.cli_params import (
    COSINE_SIMILARITY,
    OVERLAP_SCORE,
    integer_range,
    in_interval,
    open_probability,
    parse_score_thresholds,
    parse_thresholds,
    precision_target,
)

runner = CliRunner()


def test_parse_thresholds_keeps_values_in_the_score_range() -> None:
    assert parse_thresholds(["a=0.6", " b = -1 ", "c=1"], -1.0, 1.0) == {"a": 0.6, "b": -1.0, "c": 1.0}
    assert parse_score_thresholds(["a=0", "b=1"], verify=True) == {"a": 0.0, "b": 1.0}
    assert parse_score_thresholds(["a=-0.25"], verify=False) == {"a": -0.25}
    assert parse_score_thresholds(["a=-0.25"], verify=None) == {"a": -0.25}
    assert (OVERLAP_SCORE.low, OVERLAP_SCORE.high, COSINE_SIMILARITY.low, COSINE_SIMILARITY.high) == (0.0, 1.0, -1.0, 1.0)


@pytest.mark.parametrize(
    ("texts", "verify", "message"),
    [
        (["cifar=2"], True, r"--threshold cifar=2: the score it applies to lies in \[0, 1\]"),
        (["cifar=2"], False, r"lies in \[-1, 1\]"),
        (["cifar=-0.1"], True, r"lies in \[0, 1\]"),
        (["cifar=-1.5"], None, r"lies in \[-1, 1\]"),
        (["cifar=nan"], False, "lies in"),
        (["cifar=inf"], False, "lies in"),
        (["cifar=high"], True, "is not a number"),
        (["cifar"], True, "expects NAME=VALUE"),
        (["=0.5"], True, "expects NAME=VALUE"),
        (["cifar=0.5", "cifar=0.6"], True, "twice"),
    ],
)
def test_parse_thresholds_refuses_unattainable_or_malformed_values(texts: list[str], verify: bool | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_score_thresholds(texts, verify)


def test_interval_validators_at_their_edges() -> None:
    for value in (1e-9, 0.5, 0.995, 1 - 1e-12):
        assert open_probability(value) == value
    for value in (0.0, 1.0, -0.1, 1.5, math.nan):
        with pytest.raises(typer.BadParameter, match=r"\(0, 1\)"):
            open_probability(value)
    assert precision_target(1.0) == 1.0 and precision_target(None) is None
    for value in (0.0, 1.01):
        with pytest.raises(typer.BadParameter, match=r"\(0, 1\]"):
            precision_target(value)
    assert in_interval(-1, 1, low_open=False, high_open=False)(-1.0) == -1.0
    positive = integer_range(1)
    assert positive(1) == 1 and positive(None) is None
    with pytest.raises(typer.BadParameter, match="at least 1, got 0"):
        positive(0)
    with pytest.raises(typer.BadParameter, match="between 0 and 65535"):
        integer_range(0, 65535)(65536)


@pytest.fixture
def table_inputs(tmp_path: Path) -> list[str]:
    """A table-mode contamination run on four examples (two above similarity 0.5)."""
    pd.DataFrame({"dataset": "a", "id": ["1", "2", "3", "4"], "similarity": [-0.6, 0.1, 0.7, 0.9]}).to_csv(tmp_path / "overlap.csv", index=False)
    pd.DataFrame({"id": ["1", "2", "3", "4"], "correct": [0, 1, 1, 1]}).to_csv(tmp_path / "preds.csv", index=False)
    return ["contamination", "--overlap-table", str(tmp_path / "overlap.csv"), "--predictions", f"a={tmp_path / 'preds.csv'}",
            "--out", str(tmp_path / "results")]


def test_contamination_table_mode_threshold_range_is_the_similarity_range(table_inputs: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, table_inputs + ["--threshold", "a=2"])
    assert result.exit_code == 2 and "--threshold a=2" in result.output and "[-1, 1]" in result.output
    assert not (tmp_path / "results").exists()
    result = runner.invoke(app, table_inputs + ["--threshold", "a=-0.5"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "results" / "contamination.csv")
    assert int(table.loc[0, "n_overlap"]) == 3


@pytest.mark.parametrize(
    ("extra", "option"),
    [(["--confidence", "1"], "--confidence"), (["--confidence", "0"], "--confidence"),
     (["--top-k", "0"], "--top-k"), (["--target-precision", "0"], "--target-precision")],
)
def test_contamination_refuses_out_of_range_options(table_inputs: list[str], tmp_path: Path, extra: list[str], option: str) -> None:
    result = runner.invoke(app, table_inputs + ["--threshold", "a=0.5"] + extra)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "results").exists()


def test_overlap_threshold_is_checked_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = ["overlap", "--pretraining", str(tmp_path / "absent"), "--eval", f"cifar={tmp_path / 'absent_eval'}", "--out", str(out)]
    result = runner.invoke(app, base + ["--threshold", "cifar=2"])
    assert result.exit_code == 2 and "--threshold cifar=2" in result.output and "[0, 1]" in result.output
    result = runner.invoke(app, base + ["--no-verify", "--threshold", "cifar=-0.5"])
    assert result.exit_code == 2 and "--threshold" not in result.output  # in range: fails later, on the missing source
    for extra, option in ((["--top-k", "0"], "--top-k"), (["--target-precision", "1.5"], "--target-precision"),
                          (["--default-threshold", "3"], "--default-threshold")):
        result = runner.invoke(app, base + extra)
        assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    result = runner.invoke(app, ["decontaminate", "--overlap", str(out), "--out", str(tmp_path / "drop.csv"), "--threshold", "cifar=1.5"])
    assert result.exit_code == 2 and "--threshold cifar=1.5" in result.output
    assert not out.exists()


def test_inspect_and_detector_options_are_range_checked(tmp_path: Path) -> None:
    for args, option in (
        (["inspect", "--overlap", str(tmp_path), "--dataset", "a", "--threshold", "1.5"], "--threshold"),
        (["inspect", "--overlap", str(tmp_path), "--dataset", "a", "--count", "0"], "--count"),
        (["inspect", "--overlap", str(tmp_path), "--dataset", "a", "--port", "70000"], "--port"),
        (["detector", "eval", "--references", "r", "--queries", "q", "--ground-truth", "g.csv", "--top-k", "0"], "--top-k"),
        (["detector", "eval", "--references", "r", "--queries", "q", "--ground-truth", "g.csv", "--calibrate", "1.5"], "--calibrate"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, (args, result.output)


def _commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every leaf command of the CLI with its path of names (typer's own command classes, duck-typed)."""
    if hasattr(command, "commands"):
        return [leaf for name, sub in sorted(command.commands.items()) for leaf in _commands(sub, path + (name,))]
    return [(path, command)]


def test_every_boolean_option_is_an_on_off_flag_without_a_placeholder() -> None:
    leaves = _commands(typer.main.get_command(app))
    assert len(leaves) >= 8
    for path, command in leaves:
        for param in command.params:
            if param.param_type_name == "option" and (param.is_flag or param.bare_type() == "bool"):
                assert param.is_flag and param.secondary_opts, f"clip-audit {' '.join(path)} {param.opts[0]}: use --flag/--no-flag"
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        placeholders = [line for line in result.output.splitlines() if "<bool>" in line and "--help" not in line]
        assert not placeholders, f"clip-audit {' '.join(path)} --help: {placeholders}"


def test_inspect_serve_is_a_flag(tmp_path: Path) -> None:
    overlap_dir = tmp_path / "overlap"
    overlap_dir.mkdir()
    rows = [("a", f"e{i}", 1, f"p{i}", 0.1 * i) for i in range(5)]
    pd.DataFrame(rows, columns=["dataset", "eval_id", "rank", "pretraining_id", "similarity"]).to_parquet(overlap_dir / "neighbours.parquet")
    base = ["inspect", "--overlap", str(overlap_dir), "--dataset", "a", "--count", "3"]
    result = runner.invoke(app, base + ["--serve", "true"])
    assert result.exit_code == 2 and "true" in result.output
    result = runner.invoke(app, base + ["--no-serve"])
    assert result.exit_code == 0, result.output
    assert (overlap_dir / "inspect-a.html").read_text().count('class="pair"') == 3
