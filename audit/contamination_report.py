"""The per-dataset results of an image-mode audit: the table plus how sure each number is.

``audit_table`` is the table of `audit.contamination.contamination_table` (same tests and
adjustments across datasets) with each dataset's threshold and threshold rule. ``dataset_sections``
adds, per dataset, the bootstrap interval of All - Clean, the significance class of the paper's
figure, the threshold's estimated precision and recall with their intervals (when labels set it),
the class-mix distance of Overlap against Clean and the unreadable images. ``plausibility_warnings``
names results that are more likely a wrong setting than a finding.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from audit.contamination import TABLE_COLUMNS, contamination_table
from audit.contamination_figure import significance_class
from audit.stats import bootstrap_all_minus_clean
from audit.thresholds import ThresholdDecision

AUDIT_COLUMNS: tuple[str, ...] = TABLE_COLUMNS + ("threshold", "threshold_rule")
_ESTIMATE_FIELDS = ("target_precision", "n_labels", "n_duplicates", "n_above", "precision", "precision_low",
                    "precision_high", "recall", "recall_low", "recall_high")


def audit_table(examples: pd.DataFrame, decisions: Mapping[str, ThresholdDecision], confidence: float = 0.995) -> pd.DataFrame:
    """The contamination table of per-example rows, with each dataset's threshold and rule."""
    table = contamination_table(examples[["dataset", "id", "in_overlap", "correct"]], confidence=confidence)
    table["threshold"] = [decisions[name].threshold for name in table["dataset"]]
    table["threshold_rule"] = [decisions[name].rule for name in table["dataset"]]
    return table.loc[:, list(AUDIT_COLUMNS)]


def _number(value: object) -> object:
    """JSON-safe scalar (NaN to None, numpy to Python)."""
    if hasattr(value, "item"):
        value = value.item()  # type: ignore[union-attr]
    return None if isinstance(value, float) and math.isnan(value) else value


def _threshold_estimates(decision: ThresholdDecision) -> dict[str, object] | None:
    """Precision and recall of a labels-fitted threshold with their 95% intervals (None for other rules)."""
    if decision.rule != "labels":
        return None
    return {"confidence": 0.95, **{k: _number(getattr(decision, k)) for k in _ESTIMATE_FIELDS}, "note": decision.note}


def dataset_sections(
    table: pd.DataFrame, examples: pd.DataFrame, decisions: Mapping[str, ThresholdDecision],
    class_mix: Mapping[str, float], skipped: Mapping[str, int], confidence: float, n_resamples: int, seed: int,
) -> list[dict[str, object]]:
    """One JSON section per dataset: the table row and the uncertainty of each number."""
    sections = []
    for row in table.to_dict("records"):
        name = row["dataset"]
        rows = examples[examples["dataset"] == name]
        overlap, correct = rows["in_overlap"].to_numpy(bool), rows["correct"].to_numpy(bool)
        n_overlap, n_clean = int(overlap.sum()), int((~overlap).sum())
        bootstrap = None
        if n_overlap and n_clean:
            interval = bootstrap_all_minus_clean(int(correct[overlap].sum()), n_overlap, int(correct[~overlap].sum()),
                                                 n_clean, confidence=confidence, n_resamples=n_resamples, seed=seed)
            bootstrap = {"estimate": interval.estimate, "low": interval.low, "high": interval.high,
                         "confidence": confidence, "n_resamples": n_resamples, "seed": seed, "method": "percentile"}
        sections.append({
            **{k: _number(v) for k, v in row.items()},
            "significance": significance_class(row["p_value"]),
            "tests": {"one_sample_binomial": _number(row["p_value"]), "fisher_two_sample": _number(row["p_two_sample"]),
                      "alternative": "acc(Overlap) > acc(Clean)"},
            "bootstrap_all_minus_clean": bootstrap,
            "threshold_estimates": _threshold_estimates(decisions[name]),
            "class_mix_distance": _number(class_mix.get(name, math.nan)),
            "n_unreadable_images": int(skipped.get(name, 0)),
        })
    return sections


def plausibility_warnings(table: pd.DataFrame, examples: pd.DataFrame, decisions: Mapping[str, ThresholdDecision]) -> list[str]:
    """Results that point at a wrong threshold or a broken join rather than at contamination."""
    warnings = []
    for row in table.itertuples(index=False):
        if row.n_clean == 0:
            warnings.append(f"{row.dataset}: every example is in Overlap (threshold {row.threshold:.4g}, rule "
                            f"{row.threshold_rule}): the threshold is implausibly low and nothing can be tested")
        elif row.overlap_fraction > 0.5:
            warnings.append(f"{row.dataset}: {100 * row.overlap_fraction:.1f}% of the examples are in Overlap; "
                            "check the threshold (the paper's largest was 21.5%)")
        if row.n_overlap and row.n_clean and abs(row.all_minus_clean - row.overlap_fraction * row.overlap_minus_clean) > 1e-9:
            raise RuntimeError(f"{row.dataset}: All - Clean differs from f * (Overlap - Clean); the table is inconsistent")
    for name, group in examples.groupby("dataset"):
        decided = group["score"] >= decisions[str(name)].threshold
        disagree = int((decided != group["in_overlap"]).sum())
        if disagree:
            warnings.append(f"{name}: {disagree} example(s) whose in_overlap differs from score >= threshold "
                            f"({decisions[str(name)].threshold:.4g}); the overlap table and thresholds.json disagree")
    return warnings
