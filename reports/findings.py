"""The report's summary in plain words, every number taken from the loaded result files."""
from __future__ import annotations

import math

import pandas as pd

from reports.contamination_results import ContaminationResults
from reports.probe_results import ProbeResults, widest_gap


def percent(value: float, digits: int = 1) -> str:
    """A fraction as a percentage, e.g. 0.123 -> '12.3%'."""
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{100 * float(value):.{digits}f}%"


def points(value: float, digits: int = 2) -> str:
    """A difference of fractions in percentage points with its sign, e.g. 0.006 -> '+0.60'."""
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{100 * float(value):+.{digits}f}"


def p_text(value: float) -> str:
    """A p-value in three significant digits (scientific below 1e-3)."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    value = float(value)
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3g}"


def interval(low: float, high: float, scale: float = 100.0) -> str:
    """An interval as '[low, high]' in percent."""
    if not (math.isfinite(float(low)) and math.isfinite(float(high))):
        return "n/a"
    return f"[{scale * float(low):.1f}, {scale * float(high):.1f}]"


def contamination_findings(results: ContaminationResults, alpha: float) -> list[str]:
    """Sentences on what was audited, how much overlap there is and whether it inflates accuracy."""
    table = results.table
    sizes = ", ".join(f"{r.dataset} ({int(r.n_all)} examples)" for r in table.itertuples())
    sentences = [f"Audited {len(table)} evaluation set(s): {sizes}."]
    with_overlap = table[table["n_overlap"] > 0]
    if with_overlap.empty:
        sentences.append("No evaluation set has detected overlap with the pre-training data.")
        return sentences
    fractions = with_overlap["overlap_fraction"]
    sentences.append(
        f"{len(with_overlap)} of {len(table)} have detected overlap with the pre-training data: from "
        f"{percent(fractions.min())} to {percent(fractions.max())} of the examples (median {percent(fractions.median())} "
        f"over those with overlap)."
    )
    tested = table[table["all_minus_clean"].notna() & table["acc_overlap"].notna()]
    if not tested.empty:
        top = tested.loc[tested["all_minus_clean"].idxmax()]
        adjusted = f", Bonferroni-adjusted p = {p_text(top['p_bonferroni'])}" if "p_bonferroni" in table.columns else ""
        sentences.append(
            f"The largest accuracy gain from overlap is on {top['dataset']}: acc(All) - acc(Clean) = "
            f"{points(top['all_minus_clean'])} points at {percent(top['overlap_fraction'])} overlap (acc(Overlap) "
            f"{percent(top['acc_overlap'])} against acc(Clean) {percent(top['acc_clean'])}; one-tailed binomial "
            f"p = {p_text(top['p_value'])}{adjusted})."
        )
    if "p_bonferroni" in table.columns:
        significant = table.loc[table["p_bonferroni"] < alpha, "dataset"].tolist()
        sentences.append(
            f"Significant at {alpha:g} after Bonferroni adjustment across datasets: {', '.join(significant)}."
            if significant else f"No dataset's Overlap accuracy is significantly higher than its Clean accuracy at {alpha:g} after Bonferroni adjustment."
        )
    return sentences


def probe_finding(probe: ProbeResults) -> str:
    """One sentence on a probe's widest gap between groups and whether the intervals separate them."""
    gap = widest_gap(probe.rates)
    if gap is None:
        return f"{probe.name}: {len(probe.rates)} rate(s), no attribute with two non-empty groups to compare."
    high, low = gap["high"], gap["low"]
    label_set = f" (label set {gap['label_set']})" if gap["label_set"] else ""
    verdict = "the intervals do not overlap" if gap["separated"] else "the intervals overlap"
    return (
        f"{probe.name}: the widest gap is in {gap['panel']}{label_set}: group "
        f"{high['group']} {percent(high['rate'])} {interval(high['ci_low'], high['ci_high'])} against group "
        f"{low['group']} {percent(low['rate'])} {interval(low['ci_low'], low['ci_high'])} "
        f"({int(high['n'])} and {int(low['n'])} images); {verdict}."
    )


def composition_from_examples(examples: pd.DataFrame, dataset: str) -> pd.DataFrame | None:
    """Per-class counts of Overlap and Clean from overlap_examples.csv (None without a label column)."""
    if "label" not in examples.columns:
        return None
    rows = examples[examples["dataset"] == dataset]
    if rows.empty:
        return None
    overlap = rows["in_overlap"].astype(int).astype(bool)
    counts = pd.DataFrame({
        "n_overlap": rows[overlap].groupby("label").size(), "n_clean": rows[~overlap].groupby("label").size(),
    }).fillna(0).astype(int)
    counts["share_overlap"] = counts["n_overlap"] / max(1, int(overlap.sum()))
    counts["share_clean"] = counts["n_clean"] / max(1, int((~overlap).sum()))
    return counts.sort_values(["n_overlap", "n_clean"], ascending=False).rename_axis("label").reset_index()
