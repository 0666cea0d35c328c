"""The Clean/Overlap/All contamination table of Radford et al. 2021, section 5.

From per-example rows (dataset, id, in_overlap, correct) to one row per dataset with the overlap
fraction, accuracies on All, Clean and Overlap, All - Clean (= f * (Overlap - Clean)), the one-tailed
binomial test of acc(Overlap) against acc(Clean) with Bonferroni and Holm adjustments across
datasets, the Clopper-Pearson interval on acc(Overlap), and Fisher's two-sample exact test.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from audit.stats import adjust_pvalues, binomial_test, clopper_pearson, two_sample_test

TABLE_COLUMNS: tuple[str, ...] = (
    "dataset", "n_all", "n_clean", "n_overlap", "overlap_fraction",
    "acc_all", "acc_clean", "acc_overlap", "all_minus_clean", "overlap_minus_clean",
    "p_value", "p_bonferroni", "p_holm", "ci_low", "ci_high", "p_two_sample",
)
ROW_COLUMNS: tuple[str, ...] = ("dataset", "id", "in_overlap", "correct")

_TRUE = {"1", "true", "t", "yes", "y", "1.0"}
_FALSE = {"0", "false", "f", "no", "n", "0.0"}


def parse_binary(values: pd.Series, field: str, source: str = "rows") -> pd.Series:
    """Turn a column of 0/1 or true/false values into booleans, naming the field on bad values."""
    if values.isna().any():
        raise ValueError(f"{source}: column '{field}' has {int(values.isna().sum())} empty value(s)")
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    text = values.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].astype(str).unique()[:5])
        raise ValueError(f"{source}: column '{field}' must hold 0/1 or true/false, found {examples}")
    return text.isin(_TRUE)


def _rows_frame(rows: pd.DataFrame | Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Validate per-example rows and return them with typed columns."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(list(rows))
    if frame.empty:
        raise ValueError("rows: no examples given")
    missing = [c for c in ROW_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"rows: missing column(s) {missing}; expected {list(ROW_COLUMNS)}")
    frame = frame.loc[:, list(ROW_COLUMNS)]
    frame["dataset"] = frame["dataset"].astype(str)
    frame["id"] = frame["id"].astype(str)
    frame["in_overlap"] = parse_binary(frame["in_overlap"], "in_overlap")
    frame["correct"] = parse_binary(frame["correct"], "correct")
    duplicated = frame.duplicated(["dataset", "id"])
    if duplicated.any():
        pairs = frame.loc[duplicated, ["dataset", "id"]].head(5).itertuples(index=False)
        raise ValueError(f"rows: repeated (dataset, id) pairs, e.g. {[tuple(p) for p in pairs]}")
    return frame


def _rate(k: int, n: int) -> float:
    """k / n, or NaN when n is zero."""
    return k / n if n else math.nan


def _dataset_row(dataset: str, in_overlap: np.ndarray, correct: np.ndarray, confidence: float) -> dict:
    """Counts, accuracies and tests for one dataset (test fields NaN when a split is empty)."""
    n_all = int(in_overlap.size)
    n_overlap = int(in_overlap.sum())
    n_clean = n_all - n_overlap
    k_overlap = int(correct[in_overlap].sum())
    k_clean = int(correct[~in_overlap].sum())
    acc_all = _rate(k_overlap + k_clean, n_all)
    acc_clean = _rate(k_clean, n_clean)
    acc_overlap = _rate(k_overlap, n_overlap)
    row = {
        "dataset": dataset, "n_all": n_all, "n_clean": n_clean, "n_overlap": n_overlap,
        "overlap_fraction": n_overlap / n_all, "acc_all": acc_all, "acc_clean": acc_clean,
        "acc_overlap": acc_overlap, "all_minus_clean": acc_all - acc_clean,
        "overlap_minus_clean": acc_overlap - acc_clean,
        "p_value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_two_sample": math.nan,
    }
    if n_overlap:
        row["ci_low"], row["ci_high"] = clopper_pearson(k_overlap, n_overlap, confidence)
    if n_overlap and n_clean:
        row["p_value"] = binomial_test(k_overlap, n_overlap, acc_clean, alternative="greater")
        row["p_two_sample"] = two_sample_test(k_overlap, n_overlap, k_clean, n_clean, method="fisher")
    return row


def contamination_table(
    rows: pd.DataFrame | Iterable[Mapping[str, object]], confidence: float = 0.995
) -> pd.DataFrame:
    """One row per dataset with the Clean/Overlap/All statistics, in the columns of TABLE_COLUMNS."""
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    frame = _rows_frame(rows)
    records = [
        _dataset_row(str(name), group["in_overlap"].to_numpy(bool), group["correct"].to_numpy(bool), confidence)
        for name, group in frame.groupby("dataset", sort=True)
    ]
    table = pd.DataFrame.from_records(records)
    table["p_bonferroni"] = adjust_pvalues(table["p_value"].to_numpy(float), "bonferroni")
    table["p_holm"] = adjust_pvalues(table["p_value"].to_numpy(float), "holm")
    return table.loc[:, list(TABLE_COLUMNS)].reset_index(drop=True)
