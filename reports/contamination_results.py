"""The contamination section's results: the per-dataset table, its checks, and the files beside it.

Reads ``contamination.csv`` (the README's columns, plus ``threshold`` and ``threshold_rule`` when
the image mode wrote them), checks the identities the table must satisfy (Clean + Overlap = All,
f = n_overlap / n_all, All - Clean = f * (Overlap - Clean), intervals around acc(Overlap)), and
picks up ``composition.csv``, ``overlap_examples.csv``, ``drop.csv`` and ``provenance.json`` when
they are there.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reports.result_files import (
    ResultFileError, check_fraction, clopper_pearson_level, read_csv_checked, read_optional_json,
)

REQUIRED_COLUMNS = (
    "dataset", "n_all", "n_clean", "n_overlap", "overlap_fraction", "acc_all", "acc_clean", "acc_overlap",
    "all_minus_clean", "overlap_minus_clean", "p_value", "ci_low", "ci_high",
)
OPTIONAL_COLUMNS = ("p_bonferroni", "p_holm", "p_two_sample", "threshold", "threshold_rule")
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ContaminationResults:
    """The contamination table and what was found beside it."""

    folder: Path
    table: pd.DataFrame
    confidence: float | None  # level of the acc(Overlap) intervals, inferred from the table
    composition: pd.DataFrame | None
    examples: pd.DataFrame | None
    drop_rows: int | None
    provenance: object | None
    sections: tuple[dict, ...]  # per-dataset sections of an image-mode contamination.json (empty in table mode)
    warnings: tuple[str, ...]
    unreadable_pretraining: int | None


def _check_identities(table: pd.DataFrame, path: Path) -> None:
    """Counts and differences that must agree; the first violation is an error naming dataset and field."""
    def fail(mask: pd.Series, field: str, rule: str) -> None:
        if mask.any():
            row = table.loc[mask].iloc[0]
            raise ResultFileError(f"{path}: field '{field}' of dataset '{row['dataset']}' breaks {rule}")

    for column in ("n_all", "n_clean", "n_overlap"):
        values = pd.to_numeric(table[column], errors="coerce")
        fail(values.isna() | (values < 0) | (values != values.round()), column, "being a whole non-negative count")
    fail(table["n_all"] <= 0, "n_all", "n_all > 0 (an empty evaluation set)")
    fail(table["n_clean"] + table["n_overlap"] != table["n_all"], "n_all", "n_clean + n_overlap = n_all")
    fail((table["overlap_fraction"] - table["n_overlap"] / table["n_all"]).abs() > _TOLERANCE,
         "overlap_fraction", "overlap_fraction = n_overlap / n_all")
    for column in ("overlap_fraction", "acc_all", "acc_clean", "acc_overlap", "p_value", "ci_low", "ci_high",
                   *(c for c in ("p_bonferroni", "p_holm", "p_two_sample") if c in table.columns)):
        check_fraction(table, column, path, "dataset")
    fail(table["acc_overlap"].isna() & (table["n_overlap"] > 0), "acc_overlap", "being given when n_overlap > 0")
    both = table["acc_clean"].notna() & table["acc_all"].notna()
    fail(both & ((table["all_minus_clean"] - (table["acc_all"] - table["acc_clean"])).abs() > _TOLERANCE),
         "all_minus_clean", "all_minus_clean = acc_all - acc_clean")
    tested = table["acc_overlap"].notna() & table["acc_clean"].notna()
    fail(tested & ((table["overlap_minus_clean"] - (table["acc_overlap"] - table["acc_clean"])).abs() > _TOLERANCE),
         "overlap_minus_clean", "overlap_minus_clean = acc_overlap - acc_clean")
    fail(tested & ((table["all_minus_clean"] - table["overlap_fraction"] * table["overlap_minus_clean"]).abs() > _TOLERANCE),
         "all_minus_clean", "all_minus_clean = overlap_fraction * overlap_minus_clean")
    interval = table["ci_low"].notna()
    fail(interval & ((table["ci_low"] > table["acc_overlap"] + _TOLERANCE) | (table["ci_high"] < table["acc_overlap"] - _TOLERANCE)),
         "ci_low", "ci_low <= acc_overlap <= ci_high")


def read_contamination(folder: Path) -> ContaminationResults:
    """Load and check the contamination results in a folder holding contamination.csv."""
    folder = Path(folder)
    path = folder / "contamination.csv"
    table = read_csv_checked(path, REQUIRED_COLUMNS, dtype={"dataset": str})
    if table.empty:
        raise ResultFileError(f"{path}: the table has no datasets")
    if table["dataset"].duplicated().any():
        raise ResultFileError(f"{path}: field 'dataset' repeats '{table.loc[table['dataset'].duplicated(), 'dataset'].iloc[0]}'")
    _check_identities(table, path)
    tested = table["n_overlap"] > 0
    k = np.round(table.loc[tested, "acc_overlap"] * table.loc[tested, "n_overlap"])
    confidence = clopper_pearson_level(k, table.loc[tested, "n_overlap"], table.loc[tested, "ci_low"], table.loc[tested, "ci_high"])
    composition = read_csv_checked(folder / "composition.csv", ["dataset"], dtype={"dataset": str}) if (folder / "composition.csv").is_file() else None
    examples = None
    if (folder / "overlap_examples.csv").is_file():
        examples = read_csv_checked(folder / "overlap_examples.csv", ["dataset", "id", "in_overlap"],
                                    dtype={"dataset": str, "id": str, "label": str, "pretraining_id": str})
    drop_rows = len(read_csv_checked(folder / "drop.csv", [])) if (folder / "drop.csv").is_file() else None
    document = read_optional_json(folder / "contamination.json")
    details = document if isinstance(document, dict) else {}  # table mode writes a list: the CSV's rows
    sections = details.get("datasets") or []
    if not isinstance(sections, list) or not all(isinstance(d, dict) and "dataset" in d for d in sections):
        raise ResultFileError(f"{folder / 'contamination.json'}: field 'datasets' must be a list of objects with a 'dataset'")
    unreadable = details.get("unreadable_pretraining_images")
    return ContaminationResults(
        folder=folder, table=table.sort_values("dataset", kind="mergesort").reset_index(drop=True),
        confidence=confidence, composition=composition, examples=examples, drop_rows=drop_rows,
        provenance=read_optional_json(folder / "provenance.json"),
        sections=tuple(sections), warnings=tuple(str(w) for w in details.get("warnings") or ()),
        unreadable_pretraining=int(unreadable) if isinstance(unreadable, (int, float)) else (len(unreadable) if isinstance(unreadable, (list, dict)) else None),
    )
