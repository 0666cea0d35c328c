"""A probe's summary.json in the report: long findings and spread lists are capped, largest differences first."""
from __future__ import annotations

from reports.tables import probe_summary_tables


def _summary(n_rates: int, n_findings: int) -> dict:
    rates = [{"category": f"label{i}", "attribute": "race", "overall": {"rate": 0.1}, "min": 0.0, "max": i / n_rates,
              "max_difference": i / n_rates, "max_ratio": None} for i in range(n_rates)]
    return {"n_images": 10, "top": {f"group{i}": [f"label{i}"] for i in range(n_findings)}, "warnings": ["few images"],
            "rates": rates}


def test_long_spread_lists_show_the_largest_differences_first_and_say_how_many_there_are() -> None:
    findings, spread, warnings = probe_summary_tables("labels", _summary(n_rates=500, n_findings=200), limit=25)
    assert warnings == ("few images",)
    assert len(spread.rows) == 25
    difference = spread.header.index("max_difference")
    shown = [float(row[difference]) for row in spread.rows]
    assert shown == sorted(shown, reverse=True) and shown[0] == 499 / 500
    assert "first 25 of 500 rows; all in summary.json" in spread.caption
    assert len(findings.rows) == 25 and "first 25 of 201 fields; all in summary.json" in findings.caption
    assert findings.rows[0] == ("n_images", "10")


def test_short_lists_are_shown_whole_in_file_order() -> None:
    findings, spread, _ = probe_summary_tables("labels", _summary(n_rates=5, n_findings=3), limit=25)
    assert [row[0] for row in spread.rows] == [f"label{i}" for i in range(5)]
    assert "first" not in spread.caption and "first" not in findings.caption
    assert len(findings.rows) == 4
