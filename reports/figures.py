"""The report's matplotlib figures, each rendered as SVG (for HTML) and PNG (for PDF).

- ``overlap_figure``: the analogue of Radford et al. 2021, Figure 17. Left, overlap % against
  acc(Overlap) - acc(Clean) in points with the interval of acc(Overlap) shifted by acc(Clean);
  right, overlap % against All - Clean coloured by the one-tailed binomial test's class.
- ``similarity_figure``: each dataset's best-match scores with its threshold.
- ``probe_figure``: a probe's rates by group with their intervals, one panel per (category, attribute).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reports.probe_results import panel_keys, panel_rows, panel_title  # noqa: E402

SIGNIFICANCE_CLASSES = (("p < 1e-3", 1e-3, "#b2182b"), ("p < 0.05", 0.05, "#ef8a62"), ("n.s.", math.inf, "#808080"))


@dataclass(frozen=True)
class Figure:
    """One figure: a file-name stem, its SVG text, its PNG bytes and its caption."""

    name: str
    svg: str
    png: bytes
    caption: str


def _render(figure: plt.Figure, name: str, caption: str) -> Figure:
    """Save a matplotlib figure as SVG and PNG and close it."""
    svg, png = io.StringIO(), io.BytesIO()
    with plt.rc_context({"svg.hashsalt": name}):
        figure.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    figure.savefig(png, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)
    return Figure(name=name, svg=svg.getvalue(), png=png.getvalue(), caption=caption)


def significance_class(p_value: float) -> str:
    """The binomial test's class as in the paper's figure: p < 1e-3, p < 0.05 or n.s."""
    for label, bound, _ in SIGNIFICANCE_CLASSES:
        if p_value < bound:
            return label
    return SIGNIFICANCE_CLASSES[-1][0]


def overlap_figure(table: pd.DataFrame, confidence: float | None) -> Figure:
    """Figure 17 analogue from the contamination table (datasets with an Overlap and a Clean split)."""
    rows = table[table["acc_overlap"].notna() & table["acc_clean"].notna()]
    level = f"{100 * confidence:g}% " if confidence else ""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    x = 100 * rows["overlap_fraction"].to_numpy(float)
    difference = 100 * rows["overlap_minus_clean"].to_numpy(float)
    low = 100 * (rows["ci_low"].to_numpy(float) - rows["acc_clean"].to_numpy(float))
    high = 100 * (rows["ci_high"].to_numpy(float) - rows["acc_clean"].to_numpy(float))
    left.errorbar(x, difference, yerr=[difference - low, high - difference], fmt="o", color="#2166ac", capsize=3)
    for classes in SIGNIFICANCE_CLASSES:
        chosen = np.array([significance_class(p) == classes[0] for p in rows["p_value"].fillna(1.0)], dtype=bool)
        right.scatter(x[chosen], 100 * rows["all_minus_clean"].to_numpy(float)[chosen], color=classes[2], label=classes[0], zorder=3)
    for axis, values in ((left, difference), (right, 100 * rows["all_minus_clean"].to_numpy(float))):
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xlabel("detected overlap (%)")
        for name, xi, yi in zip(rows["dataset"], x, values):
            axis.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        axis.grid(alpha=0.3)
    left.set_ylabel(f"acc(Overlap) - acc(Clean) (points, {level}interval)")
    right.set_ylabel("acc(All) - acc(Clean) (points)")
    right.legend(title="one-tailed binomial test", fontsize=8)
    missing = table.loc[~table.index.isin(rows.index), "dataset"].tolist()
    caption = (f"Overlap against the accuracy difference, {len(rows)} dataset(s) with both splits"
               + (f"; not plotted (no Overlap or no Clean split): {', '.join(map(str, missing))}" if missing else ""))
    return _render(figure, "figure_overlap", caption)


def similarity_figure(best: pd.DataFrame, thresholds: pd.DataFrame) -> Figure:
    """Histogram of each dataset's best-match score, Overlap and Clean coloured, threshold marked."""
    datasets = sorted(best["dataset"].unique())
    columns = min(3, len(datasets))
    lines = math.ceil(len(datasets) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.6 * columns, 2.8 * lines), squeeze=False)
    cuts = thresholds.set_index("dataset")["threshold"] if not thresholds.empty else pd.Series(dtype=float)
    for axis, name in zip(axes.flat, datasets):
        rows = best[best["dataset"] == name]
        bins = np.linspace(float(rows["score"].min()), float(rows["score"].max()) + 1e-9, 30)
        overlap = rows["in_overlap"].astype(bool)
        axis.hist([rows.loc[~overlap, "score"], rows.loc[overlap, "score"]], bins=bins, stacked=True,
                  color=["#9ecae1", "#d6604d"], label=["Clean", "Overlap"])
        if name in cuts.index:
            axis.axvline(float(cuts[name]), color="black", linestyle="--", linewidth=1, label="threshold")
        axis.set_title(str(name), fontsize=10)
        axis.set_xlabel("best score")
        axis.set_yscale("log")
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(datasets):]:
        axis.set_visible(False)
    figure.tight_layout()
    return _render(figure, "figure_similarity", "Best-match score of every evaluation example (log count) and its dataset's threshold (the score is the global similarity unless the run verified pairs)")


def probe_figure(name: str, rates: pd.DataFrame, confidence: float | None, max_panels: int) -> Figure:
    """Rates by group with intervals, one horizontal-bar panel per (category, attribute); empty groups left blank."""
    keys = panel_keys(rates)[:max_panels]
    columns = min(3, len(keys))
    lines = math.ceil(len(keys) / columns)
    tallest = max(panel_rows(rates, key)["group"].nunique() for key in keys)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, (0.9 + 0.28 * tallest) * lines), squeeze=False)
    label_sets = list(dict.fromkeys(rates["label_set"])) if "label_set" in rates.columns else [None]
    colours = ["#2166ac", "#d6604d", "#4d9221", "#762a83"]
    for axis, key in zip(axes.flat, keys):
        rows = panel_rows(rates, key)
        groups = list(dict.fromkeys(rows["group"]))
        height = 0.8 / len(label_sets)
        for offset, label_set in enumerate(label_sets):
            part = rows if label_set is None else rows[rows["label_set"] == label_set]
            part = part.drop_duplicates("group").set_index("group").reindex(groups)
            y = np.arange(len(groups)) + offset * height
            rate = part["rate"].to_numpy(float)
            present = np.isfinite(rate)
            axis.barh(y[present], rate[present], height=height, color=colours[offset % len(colours)], label=label_set)
            axis.errorbar(rate[present], y[present],
                          xerr=[rate[present] - part["ci_low"].to_numpy(float)[present], part["ci_high"].to_numpy(float)[present] - rate[present]],
                          fmt="none", ecolor="black", capsize=2, linewidth=0.8)
        axis.set_yticks(np.arange(len(groups)) + height * (len(label_sets) - 1) / 2, groups, fontsize=7)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_title(panel_title(rates, key), fontsize=9)
        if label_sets != [None]:
            axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(keys):]:
        axis.set_visible(False)
    figure.tight_layout()
    level = f"{100 * confidence:g}% " if confidence else ""
    total = len(panel_keys(rates))
    caption = f"{name}: rate by group with {level}intervals" + (f" (first {len(keys)} of {total} panels; the table has all)" if len(keys) < total else "")
    return _render(figure, f"figure_probe_{name}", caption)
