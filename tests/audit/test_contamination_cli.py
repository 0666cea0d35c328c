"""`clip-audit contamination` in table mode, on small CSV fixtures."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.contamination import TABLE_COLUMNS

runner = CliRunner()


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    overlap = _write(
        tmp_path / "overlap.csv",
        """
dataset,id,similarity
cifar,001,0.95
cifar,002,0.10
cifar,003,0.91
cifar,004,0.20
cifar,005,0.30
cifar,006,0.40
birds,x1,0.99
birds,x2,0.05
birds,x3,0.02
""",
    )
    cifar = _write(tmp_path / "cifar.csv", "id,correct\n001,1\n002,0\n003,1\n004,1\n005,0\n006,0")
    birds = _write(tmp_path / "birds.csv", "id,prediction,label\nx1,robin,robin\nx2,crow,wren\nx3,owl,owl")
    return {"overlap": overlap, "cifar": cifar, "birds": birds, "dir": tmp_path}


def _invoke(*args: str):
    return runner.invoke(app, ["contamination", *args])


def test_table_mode_writes_csv_and_json_with_the_same_columns(files) -> None:
    out = files["dir"] / "out"
    result = _invoke(
        "--overlap-table", str(files["overlap"]), "--predictions", f"cifar={files['cifar']}",
        "--predictions", f"birds={files['birds']}", "--threshold", "cifar=0.9", "--threshold", "birds=0.5",
        "--out", str(out),
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "contamination.csv")
    records = json.loads((out / "contamination.json").read_text())
    assert list(table.columns) == list(TABLE_COLUMNS) == list(records[0])
    cifar = table.set_index("dataset").loc["cifar"]
    assert (cifar.n_all, cifar.n_overlap, cifar.acc_overlap, cifar.acc_clean) == (6, 2, 1.0, 0.25)
    birds = next(r for r in records if r["dataset"] == "birds")
    assert birds["n_overlap"] == 1 and birds["acc_clean"] == 0.5
    assert "cifar" in result.output and "contamination.json" in result.output


def test_in_overlap_column_is_used_without_threshold(files) -> None:
    overlap = _write(
        files["dir"] / "flagged.csv",
        "dataset,id,similarity,in_overlap\ncifar,001,0.5,1\ncifar,002,0.5,0\ncifar,003,0.5,0\n"
        "cifar,004,0.5,0\ncifar,005,0.5,0\ncifar,006,0.5,1",
    )
    result = _invoke("--overlap-table", str(overlap), "--predictions", f"cifar={files['cifar']}", "--out", str(files["dir"] / "o"))
    assert result.exit_code == 0, result.output
    row = pd.read_csv(files["dir"] / "o" / "contamination.csv").iloc[0]
    assert (row.n_overlap, row.acc_overlap) == (2, 0.5)


def test_dataset_without_flags_or_threshold_is_an_error_that_says_so(files) -> None:
    result = _invoke("--overlap-table", str(files["overlap"]), "--predictions", f"cifar={files['cifar']}", "--out", str(files["dir"] / "o"))
    assert result.exit_code == 2
    assert "neither an in_overlap column" in result.output and "--threshold cifar=" in result.output


def test_ids_in_one_file_only_are_listed(files) -> None:
    preds = _write(files["dir"] / "short.csv", "id,correct\n001,1\n002,0\n003,1\n999,1")
    result = _invoke(
        "--overlap-table", str(files["overlap"]), "--predictions", f"cifar={preds}",
        "--threshold", "cifar=0.9", "--out", str(files["dir"] / "o"),
    )
    assert result.exit_code == 2
    assert "only in the overlap table: 004, 005, 006" in result.output
    assert "only in the predictions: 999" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--predictions", "cifar={missing}"], "predictions file not found"),
        (["--predictions", "cifar"], "--predictions expects NAME=VALUE"),
        (["--predictions", "dogs={cifar}"], "'dogs', which is not in"),
        (["--predictions", "cifar={cifar}", "--threshold", "dogs=0.5"], "'dogs', which is not in"),
        (["--predictions", "cifar={cifar}", "--threshold", "cifar=high"], "not a number"),
        (["--predictions", "cifar={badcols}", "--threshold", "cifar=0.5"], "needs columns id,correct"),
        (["--predictions", "cifar={badcorrect}", "--threshold", "cifar=0.5"], "column 'correct'"),
        (["--predictions", "cifar={empty}", "--threshold", "cifar=0.5"], "empty"),
    ],
)
def test_bad_predictions_and_options(files, args: list[str], message: str) -> None:
    d = files["dir"]
    _write(d / "badcols.csv", "id,guess\n001,1")
    _write(d / "badcorrect.csv", "id,correct\n001,yes-ish")
    (d / "empty.csv").write_text("")
    names = {"missing": d / "nope.csv", "cifar": files["cifar"], "badcols": d / "badcols.csv",
             "badcorrect": d / "badcorrect.csv", "empty": d / "empty.csv"}
    args = [a.format(**names) for a in args]
    result = _invoke("--overlap-table", str(files["overlap"]), *args, "--out", str(d / "o"))
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "overlap table file not found"),
        ("dataset,id\ncifar,001", "missing column(s) ['similarity']"),
        ("dataset,id,similarity\ncifar,001,high", "'similarity' must be numeric"),
        ("dataset,id,similarity", "has no rows"),
        ("dataset,id,similarity,in_overlap\ncifar,001,0.5,maybe", "column 'in_overlap'"),
    ],
)
def test_bad_overlap_tables(files, content: str | None, message: str) -> None:
    path = files["dir"] / "bad_overlap.csv"
    if content is not None:
        _write(path, content)
    result = _invoke("--overlap-table", str(path), "--predictions", f"cifar={files['cifar']}", "--out", str(files["dir"] / "o"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert str(path.name) in result.output


def test_console_script_is_installed_and_runs(files) -> None:
    beside_python = Path(sys.executable).parent / "clip-audit"
    executable = str(beside_python) if beside_python.exists() else shutil.which("clip-audit")
    assert executable, "the clip-audit console script is not installed"
    completed = subprocess.run(
        [executable, "contamination", "--overlap-table", str(files["overlap"]), "--predictions",
         f"cifar={files['cifar']}", "--threshold", "cifar=0.9", "--out", str(files["dir"] / "cli")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (files["dir"] / "cli" / "contamination.json").is_file()


def test_python_dash_m_audit_runs_the_same_command_line(files) -> None:
    """`python -m audit` (used where the package is not installed, e.g. a GPU machine) is the CLI."""
    completed = subprocess.run(
        [sys.executable, "-m", "audit", "contamination", "--overlap-table", str(files["overlap"]), "--predictions",
         f"cifar={files['cifar']}", "--threshold", "cifar=0.9", "--out", str(files["dir"] / "module")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (files["dir"] / "module" / "contamination.json").is_file()
