"""Tables as the templates show them: a header and rows of already formatted cells."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import pandas as pd

from reports.findings import interval, p_text, percent, points
from reports.probe_results import RATE_COLUMNS
from reports.result_files import flatten


@dataclass(frozen=True)
class Table:
    """A caption, column names and rows of cell strings."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def cell(value: object) -> str:
    """A generic cell: integers as is, floats in 4 significant digits, empty for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if hasattr(value, "item"):
        return cell(value.item())  # type: ignore[union-attr]
    return str(value)


def frame_table(frame: pd.DataFrame, caption: str, columns: Sequence[str] | None = None, limit: int | None = None,
                source: str = "the CSV") -> Table:
    """A data frame as a Table with generic cell formatting (the first `limit` rows; the caption names `source`)."""
    columns = list(columns or frame.columns)
    shown = frame if limit is None else frame.head(limit)
    note = f" (first {limit} of {len(frame)} rows; all in {source})" if limit is not None and len(frame) > limit else ""
    return Table(caption + note, tuple(columns), tuple(tuple(cell(v) for v in row) for row in shown[columns].itertuples(index=False)))


def pairs_table(pairs: Iterable[tuple[str, object]], caption: str) -> Table:
    """Key/value pairs (a flattened JSON file) as a two-column Table."""
    return Table(caption, ("field", "value"), tuple((key, cell(value)) for key, value in pairs))


def contamination_table(table: pd.DataFrame, confidence: float | None) -> Table:
    """The contamination table in percent and points, with p-values and the interval on acc(Overlap)."""
    level = f"{100 * confidence:g}% " if confidence else ""
    extra = [c for c in ("threshold", "threshold_rule") if c in table.columns]
    header = ("dataset", "n_all", "n_overlap", "overlap", "acc(All)", "acc(Clean)", "acc(Overlap)",
              f"{level}interval acc(Overlap)", "All - Clean (pts)", "Overlap - Clean (pts)", "p (binomial)",
              *(["p Bonferroni"] if "p_bonferroni" in table.columns else []),
              *(["p Holm"] if "p_holm" in table.columns else []),
              *(["p Fisher"] if "p_two_sample" in table.columns else []), *extra)
    rows = []
    for r in table.to_dict("records"):
        rows.append((
            str(r["dataset"]), cell(r["n_all"]), cell(r["n_overlap"]), percent(r["overlap_fraction"], 2),
            percent(r["acc_all"]), percent(r["acc_clean"]), percent(r["acc_overlap"]),
            interval(r["ci_low"], r["ci_high"]) if r["n_overlap"] else "n/a",
            points(r["all_minus_clean"]), points(r["overlap_minus_clean"]), p_text(r["p_value"]),
            *([p_text(r["p_bonferroni"])] if "p_bonferroni" in r else []),
            *([p_text(r["p_holm"])] if "p_holm" in r else []),
            *([p_text(r["p_two_sample"])] if "p_two_sample" in r else []),
            *(cell(r[c]) for c in extra),
        ))
    return Table("Clean / Overlap / All per evaluation set (accuracies in %, differences in percentage points)", header, tuple(rows))


def thresholds_table(thresholds: pd.DataFrame, level: float | None) -> Table:
    """Each dataset's threshold, its rule and, for labels, precision and recall with intervals."""
    label = f"{100 * level:g}% " if level else ""
    header = ("dataset", "threshold", "rule", "target precision", "labelled pairs", "duplicates", "above threshold",
              "precision", f"{label}precision interval", "recall", f"{label}recall interval", "note")
    rows = []
    for r in thresholds.to_dict("records"):
        def get(key: str) -> object:
            value = r.get(key)
            return math.nan if value is None else value
        rows.append((
            str(r["dataset"]), f"{float(r['threshold']):.4f}", str(r["rule"]), cell(get("target_precision")),
            cell(get("n_labels")), cell(get("n_duplicates")), cell(get("n_above")),
            percent(get("precision")), interval(get("precision_low"), get("precision_high")),
            percent(get("recall")), interval(get("recall_low"), get("recall_high")), str(r.get("note") or ""),
        ))
    return Table("Thresholds, the rule that set them, and the detector's precision and recall estimated from the labelled pairs", header, tuple(rows))


def rates_table(name: str, rates: pd.DataFrame, confidence: float | None, limit: int) -> Table:
    """A probe's disaggregated rates with their intervals (the first `limit` rows; empty groups marked)."""
    level = f"{100 * confidence:g}% " if confidence else ""
    lead = [c for c in rates.columns if c not in RATE_COLUMNS]
    header = (*lead, "category", "attribute", "group", "n", "count", "rate", f"{level}interval")
    rows = tuple(
        (*(cell(r[c]) for c in lead), str(r["category"]), str(r["attribute"]), str(r["group"]), cell(r["n"]), cell(r["count"]),
         percent(r["rate"]) if r["n"] else "empty group", interval(r["ci_low"], r["ci_high"]) if r["n"] else "")
        for r in rates.head(limit).to_dict("records")
    )
    note = f" (first {limit} of {len(rates)} rows; all in rates.csv)" if len(rates) > limit else ""
    return Table(f"{name}: rates by group (from rates.csv){note}", header, rows)


def probe_summary_tables(name: str, summary: object, limit: int = 60) -> tuple[Table | None, Table | None, tuple[str, ...]]:
    """summary.json as a findings table, a spread table (overall, min, max, difference, ratio) and its warnings.

    Each table shows at most `limit` rows: the findings in file order, the spread entries with the largest max
    difference first; the caption says how many the file holds (summary.json keeps every row).
    """
    if not isinstance(summary, dict):
        return None, None, ()
    spread = summary.get("rates")
    warnings = tuple(str(w) for w in summary.get("warnings") or ())
    rest = {k: v for k, v in summary.items() if k not in ("rates", "warnings")}
    findings = None
    if rest:
        fields = flatten(rest)
        note = f" (first {limit} of {len(fields)} fields; all in summary.json)" if len(fields) > limit else ""
        findings = pairs_table(fields[:limit], f"{name}: findings (summary.json){note}")
    spread_table = None
    if isinstance(spread, list) and spread and all(isinstance(e, dict) for e in spread):
        frame = pd.json_normalize(spread)
        wanted = ["category", "attribute", "label_set", "threshold", "overall.rate", "min", "min_group", "max", "max_group",
                  "max_difference", "max_ratio", "empty_groups"]
        columns = [c for c in wanted if c in frame.columns]
        caption = f"{name}: overall, min, max, max difference and max ratio per table (summary.json)"
        if len(frame) > limit and "max_difference" in frame.columns:
            order = pd.to_numeric(frame["max_difference"], errors="coerce")
            frame = frame.assign(_order=order).sort_values("_order", ascending=False, na_position="last", kind="stable")
            caption += ", largest max difference first"
        spread_table = frame_table(frame, caption, columns, limit=limit, source="summary.json")
    return findings, spread_table, warnings


def uncertainty_table(sections: tuple[dict, ...]) -> Table | None:
    """How sure each dataset's numbers are (image-mode contamination.json): bootstrap interval, Fisher, class mix."""
    if not sections:
        return None
    rows = []
    levels = set()
    for section in sections:
        boot = section.get("bootstrap_all_minus_clean") or {}
        tests = section.get("tests") or {}
        if boot.get("confidence") is not None:
            levels.add(float(boot["confidence"]))
        rows.append((
            str(section["dataset"]), str(section.get("significance") or ""),
            points(boot["estimate"]) if boot.get("estimate") is not None else "n/a",
            f"[{points(boot['low'])}, {points(boot['high'])}]" if boot.get("low") is not None else "n/a",
            p_text(tests["fisher_two_sample"]) if tests.get("fisher_two_sample") is not None else "n/a",
            cell(section.get("class_mix_distance")), cell(section.get("n_unreadable_images")),
        ))
    level = f"{100 * levels.pop():g}% " if len(levels) == 1 else ""
    return Table(
        "How sure each number is (contamination.json): bootstrap interval of All - Clean in points, Fisher's two-sample p, "
        "total variation distance between the Overlap and Clean class mixes, unreadable evaluation images",
        ("dataset", "binomial test class", "All - Clean (pts)", f"{level}bootstrap interval", "p Fisher", "class-mix distance", "unreadable images"),
        tuple(rows),
    )


def differences_table(name: str, differences: pd.DataFrame, limit: int) -> Table:
    """differences.csv of class-design: both rates in %, the paired difference in points with its interval."""
    needed = {"rate_first", "rate_second", "difference", "ci_low", "ci_high"}
    if not needed <= set(differences.columns):
        return frame_table(differences, f"{name}: differences.csv", limit=limit)
    lead = [c for c in ("category", "attribute", "group", "label_set_first", "label_set_second", "n") if c in differences.columns]
    tests = [c for c in ("p_value", "p_holm") if c in differences.columns]
    rows = tuple(
        (*(cell(r[c]) for c in lead), percent(r["rate_first"]), percent(r["rate_second"]), points(r["difference"]),
         f"[{points(r['ci_low'])}, {points(r['ci_high'])}]", *(p_text(r[c]) for c in tests))
        for r in differences.head(limit).to_dict("records")
    )
    note = f" (first {limit} of {len(differences)} rows; all in differences.csv)" if len(differences) > limit else ""
    return Table(f"{name}: paired differences between the two label sets, second minus first (differences.csv){note}",
                 (*lead, "rate first", "rate second", "difference (pts)", "interval (pts)", *tests), rows)
