"""The report's text and tables carry the numbers of the result files, and absent sections say "not run"."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from reports.findings import interval, p_text, percent, points

runner = CliRunner()


def _app() -> typer.Typer:
    """The `report` command on its own (audit.cli registers the same function)."""
    from audit.commands import report

    app = typer.Typer()
    report.register(app)
    app.callback()(lambda: None)
    return app


def _tables(html: str) -> dict[str, list[list[str]]]:
    """Every result table of the page by caption: rows of cell texts."""
    soup = BeautifulSoup(html, "html.parser")
    return {t.caption.get_text(): [[td.get_text() for td in tr.find_all("td")] for tr in t.tbody.find_all("tr")]
            for t in soup.find_all("table", class_="result")}


def _table(tables: dict, start: str) -> list[list[str]]:
    found = [rows for caption, rows in tables.items() if caption.startswith(start)]
    assert len(found) == 1, list(tables)
    return found[0]


def test_contamination_table_matches_the_csv(audit_folder, built_report) -> None:
    csv = pd.read_csv(audit_folder.root / "results" / "contamination.csv").set_index("dataset")
    rows = _table(_tables(built_report.html.read_text()), "Clean / Overlap / All")
    assert [r[0] for r in rows] == sorted(csv.index)
    for row in rows:
        truth = csv.loc[row[0]]
        assert row[1:4] == [str(int(truth.n_all)), str(int(truth.n_overlap)), percent(truth.overlap_fraction, 2)]
        assert row[8] == points(truth.all_minus_clean) and row[10] == p_text(truth.p_value)
        if truth.n_overlap:
            assert row[7] == interval(truth.ci_low, truth.ci_high)
    caption = BeautifulSoup(built_report.html.read_text(), "html.parser").find(id="figure_overlap").figcaption.get_text()
    assert "2 dataset(s) with both splits" in caption and caption.endswith("gamma")  # no overlap: listed, not dropped
    alpha = csv.loc["alpha"]
    summary = json.loads(built_report.summary.read_text())
    assert summary["contamination_interval_level"] == 0.995  # inferred from the intervals themselves
    assert any(f"{points(alpha.all_minus_clean)} points at {percent(alpha.overlap_fraction)} overlap" in s for s in summary["summary"])
    assert any(s.startswith("Significant at 0.05 after Bonferroni") and "alpha" in s and "beta" not in s for s in summary["summary"])


def test_thresholds_and_probe_rates_match_their_files(audit_folder, built_report) -> None:
    tables = _tables(built_report.html.read_text())
    decisions = json.loads((audit_folder.root / "overlap" / "thresholds.json").read_text())
    thresholds = _table(tables, "Thresholds")
    for row in thresholds:
        decision = decisions[row[0]]
        assert row[1] == f"{decision['threshold']:.4f}" and row[2] == decision["rule"]
        assert row[7] == percent(decision["precision"]) if decision["precision"] is not None else row[7] == "n/a"
    rates = pd.read_csv(audit_folder.root / "probes" / "denigration" / "rates.csv")
    shown = _table(tables, "denigration: rates by group")
    assert len(shown) == len(rates)
    for row, truth in zip(shown, rates.itertuples()):
        assert row[:5] == [truth.category, truth.attribute, truth.group, str(truth.n), str(truth.count)]
        assert row[5] == ("empty group" if truth.n == 0 else percent(truth.rate))
    summary = json.loads(built_report.summary.read_text())["summary"]
    # The planted group is the one the summary names, and its interval separates it from the lowest.
    assert any(s.startswith("denigration: the widest gap is in crime-related by race") and "group group_a" in s
               and "do not overlap" in s for s in summary)


def test_pairs_near_threshold_have_thumbnails_and_straddle_it(audit_folder, built_report) -> None:
    soup = BeautifulSoup(built_report.html.read_text(), "html.parser")
    alpha = soup.find(id="dataset-alpha")
    pairs = alpha.find_all(class_="pair")
    assert pairs and all(len(p.find_all("img")) == 2 for p in pairs)
    sides = {("overlap" in p["class"]) for p in pairs}
    assert sides == {True, False}
    threshold = json.loads((audit_folder.root / "overlap" / "thresholds.json").read_text())["alpha"]["threshold"]
    for pair in pairs:
        score = float(pair["data-score"])
        assert (score >= threshold - 1e-4) == ("overlap" in pair["class"])


def test_sections_without_results_say_not_run(audit_folder, tmp_path: Path) -> None:
    app = _app()
    root = tmp_path / "probes_only"
    shutil.copytree(audit_folder.root / "probes", root / "probes")
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    assert "not run: Contamination, Per-dataset detail, Thresholds" in result.output
    soup = BeautifulSoup((root / "report.html").read_text(), "html.parser")
    for section in ("contamination", "datasets", "thresholds"):
        assert "Not run" in soup.find(id=section).get_text()
    assert "Not run" not in soup.find(id="probes").get_text()
    summary = json.loads((root / "report.json").read_text())
    assert [k for k, v in summary["sections"].items() if v["ran"]] == ["probes"]
    assert (root / "report.pdf").read_bytes().startswith(b"%PDF")


def test_explicit_paths_and_output_folder(audit_folder, tmp_path: Path) -> None:
    app = _app()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["report", str(empty), "--contamination", str(audit_folder.root / "results" / "contamination.csv"),
                                 "--probes", str(audit_folder.root / "probes" / "denigration"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "report.json").read_text())
    assert summary["probes"] == ["denigration"] and summary["sections"]["contamination"]["ran"]
    assert not summary["sections"]["thresholds"]["ran"]
    assert (tmp_path / "out" / "report_files" / "figure_overlap.svg").read_text().lstrip().startswith("<?xml")


def _broken_copy(audit_folder, tmp_path: Path, relative: str, edit) -> Path:
    root = tmp_path / "broken"
    shutil.copytree(audit_folder.root / "results", root / "results")
    shutil.copytree(audit_folder.root / "probes", root / "probes")
    path = root / relative
    frame = pd.read_csv(path)
    edit(frame)
    frame.to_csv(path, index=False)
    return root


def _set(row: int, column: str, value: float):
    """An edit that overwrites one cell."""
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value
    return edit


@pytest.mark.parametrize(("relative", "edit", "message"), [
    ("results/contamination.csv", _set(0, "n_clean", 5), "'n_all' of dataset 'alpha' breaks n_clean + n_overlap"),
    ("results/contamination.csv", _set(0, "all_minus_clean", 0.5), "'all_minus_clean' of dataset 'alpha'"),
    ("results/contamination.csv", lambda f: f.pop("p_value"), "missing column(s) ['p_value']"),
    ("probes/denigration/rates.csv", _set(0, "count", 10_000), "field 'count' breaks count <= n"),
    ("probes/denigration/rates.csv", _set(1, "rate", 0.99), "field 'rate' breaks rate = count / n"),
])
def test_impossible_results_stop_the_report_naming_file_and_field(audit_folder, tmp_path: Path, relative, edit, message) -> None:
    app = _app()
    root = _broken_copy(audit_folder, tmp_path, relative, edit)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 2
    assert message in result.output and relative.split("/")[-1] in result.output
    assert not (root / "report.html").exists()


def test_missing_folders_are_clear_errors(tmp_path: Path) -> None:
    app = _app()
    result = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "report folder not found" in result.output
    result = runner.invoke(app, ["report", str(tmp_path), "--probes", str(tmp_path)])
    assert result.exit_code == 2 and "no probe folder with rates.csv" in result.output


def test_report_is_a_registered_command(audit_folder, tmp_path: Path) -> None:
    from audit.cli import app

    result = runner.invoke(app, ["report", str(audit_folder.root), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "4 section(s) with results; 4 figure(s)" in result.output and (tmp_path / "report.pdf").is_file()
