"""Class composition of Overlap against Clean per dataset (is Overlap a different mix of classes?).

The paper notes that Overlap may differ from Clean in class mix or difficulty, which confounds
acc(Overlap) - acc(Clean). ``class_composition`` counts each class in both splits with its share
and accuracy; ``class_mix_distance`` summarises a dataset by the total variation distance between
the two class distributions (0: the same mix, 1: disjoint classes).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

COMPOSITION_COLUMNS = ["dataset", "label", "n_clean", "n_overlap", "share_clean", "share_overlap", "acc_clean", "acc_overlap"]
UNLABELLED = "(unlabelled)"


def class_composition(examples: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, label): counts, shares and accuracies in Clean and Overlap."""
    missing = [c for c in ("dataset", "label", "in_overlap", "correct") if c not in examples.columns]
    if missing:
        raise ValueError(f"examples: missing column(s) {missing}")
    frame = examples.assign(label=examples["label"].fillna(UNLABELLED).astype(str),
                            in_overlap=examples["in_overlap"].astype(bool), correct=examples["correct"].astype(float))
    keys = ["dataset", "label"]
    clean = frame[~frame["in_overlap"]].groupby(keys)["correct"].agg(n_clean="size", acc_clean="mean")
    overlap = frame[frame["in_overlap"]].groupby(keys)["correct"].agg(n_overlap="size", acc_overlap="mean")
    table = clean.join(overlap, how="outer").reset_index()
    for split in ("clean", "overlap"):
        table[f"n_{split}"] = table[f"n_{split}"].fillna(0).astype(int)
        totals = table.groupby("dataset")[f"n_{split}"].transform("sum")
        table[f"share_{split}"] = np.where(totals > 0, table[f"n_{split}"] / totals.where(totals > 0, 1), math.nan)
    return table[COMPOSITION_COLUMNS].sort_values(["dataset", "label"], kind="mergesort").reset_index(drop=True)


def class_mix_distance(composition: pd.DataFrame) -> dict[str, float]:
    """Total variation distance between the Overlap and Clean class mixes per dataset (NaN if a split is empty)."""
    return {
        str(name): float(0.5 * np.abs(group["share_overlap"] - group["share_clean"]).sum())
        if group["n_overlap"].sum() and group["n_clean"].sum() else math.nan
        for name, group in composition.groupby("dataset", sort=True)
    }
