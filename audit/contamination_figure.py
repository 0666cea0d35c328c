"""The analogue of Figure 17 of Radford et al. 2021: overlap against the accuracy differences, per dataset.

Left: overlap % against acc(Overlap) - acc(Clean) in points, with the Clopper-Pearson interval on
acc(Overlap) shifted by acc(Clean). Right: overlap % against All - Clean in points, coloured by the
one-tailed binomial test (p < 1e-3, p < 0.05, n.s.). Datasets without overlap (or without a test)
are listed under the plots, not dropped. Written as PNG and SVG (atomically) with the provenance
record in the files' metadata.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from clip_core.atomic_files import atomic_path

SIGNIFICANCE_COLOURS = {"p < 1e-3": "#c0392b", "p < 0.05": "#e67e22", "n.s.": "#7f8c8d"}


def significance_class(p_value: float) -> str | None:
    """The paper's three classes of the binomial test, or None when there is no test."""
    if p_value is None or math.isnan(p_value):
        return None
    return "p < 1e-3" if p_value < 1e-3 else "p < 0.05" if p_value < 0.05 else "n.s."


def _save(figure, path: Path, fmt: str, metadata: Mapping[str, str]) -> None:  # noqa: ANN001 - matplotlib Figure
    """Render to memory, then write atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight", metadata=dict(metadata))
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())


def plot_overlap_figure(
    table: pd.DataFrame, out_dir: Path, provenance: Mapping[str, object], confidence: float = 0.995
) -> tuple[Path, Path]:
    """Draw figure_overlap.png and .svg from a contamination table; return both paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tested = table[table["n_overlap"].gt(0) & table["p_value"].notna()]
    untested = table.loc[~table.index.isin(tested.index), "dataset"].tolist()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    x = 100 * tested["overlap_fraction"]
    y = 100 * tested["overlap_minus_clean"]
    low = 100 * (tested["acc_overlap"] - tested["ci_low"])
    high = 100 * (tested["ci_high"] - tested["acc_overlap"])
    left.errorbar(x, y, yerr=[low, high], fmt="o", color="#2c3e50", ecolor="#95a5a6", capsize=3)
    left.set_ylabel(f"acc(Overlap) - acc(Clean), points ({100 * float(confidence):g}% interval)")
    colours = [SIGNIFICANCE_COLOURS[significance_class(p)] for p in tested["p_value"]]
    right.scatter(x, 100 * tested["all_minus_clean"], c=colours, zorder=3)
    right.set_ylabel("acc(All) - acc(Clean), points")
    for axis in (left, right):
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xlabel("overlap, % of the evaluation set")
        axis.set_xlim(left=0.0)
        axis.grid(alpha=0.3)
    for axis, values in ((left, y), (right, 100 * tested["all_minus_clean"])):
        for name, xi, yi in zip(tested["dataset"], x, values):
            axis.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=c, label=k) for k, c in SIGNIFICANCE_COLOURS.items()]
    right.legend(handles=handles, title="binomial test", fontsize=8, loc="best")
    left.set_title("Overlap - Clean")
    right.set_title("All - Clean")
    if untested:
        figure.text(0.01, -0.02, "No overlap (or no Clean examples), not plotted: " + ", ".join(map(str, untested)),
                    fontsize=9, ha="left", va="top")
    figure.tight_layout()
    out_dir = Path(out_dir)
    png, svg = out_dir / "figure_overlap.png", out_dir / "figure_overlap.svg"
    record = json.dumps(provenance, default=str)
    _save(figure, png, "png", {"Title": "clip-audit overlap figure", "Description": record})
    _save(figure, svg, "svg", {"Title": "clip-audit overlap figure", "Description": record})
    plt.close(figure)
    return png, svg
