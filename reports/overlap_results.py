"""The overlap section's results: thresholds with their rule and estimates, best similarities, pairs.

Reads ``thresholds.json`` (per dataset: threshold, rule and, for labels, precision and recall with
their intervals), ``overlap_table.csv`` (dataset, id, similarity, [score,] in_overlap) or else the rank-1
rows of ``neighbours.parquet``, where ``score`` is what thresholds apply to (the verified score, or the
global similarity when the run did not verify), the best pair of each evaluation example from
``neighbours.parquet`` (for the example pairs), and ``sources.json`` (the image sources).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reports.result_files import ResultFileError, check_fraction, clopper_pearson_level, finite, read_csv_checked, read_json, read_optional_json

NEIGHBOUR_COLUMNS = ("dataset", "eval_id", "rank", "pretraining_id", "similarity")


@dataclass(frozen=True)
class OverlapResults:
    """Thresholds and similarities of one overlap run."""

    folder: Path
    thresholds: pd.DataFrame  # one row per dataset: threshold, rule, precision, recall, ... (may be empty)
    best: pd.DataFrame | None  # dataset, id, similarity, score, in_overlap
    pairs: pd.DataFrame | None  # best pair per evaluation example: dataset, eval_id, pretraining_id, similarity, score
    sources: dict
    interval_level: float | None  # level of the precision/recall intervals, inferred from thresholds.json
    summary: object | None


def _read_thresholds(path: Path) -> pd.DataFrame:
    """thresholds.json as a table, each dataset's threshold checked to be a number."""
    if not path.is_file():
        return pd.DataFrame(columns=["dataset", "threshold", "rule"])
    content = read_json(path)
    if not isinstance(content, dict):
        raise ResultFileError(f"{path}: expected an object keyed by dataset")
    rows = []
    for name, decision in content.items():
        if not isinstance(decision, dict) or not finite(decision.get("threshold")):
            raise ResultFileError(f"{path}: field 'threshold' of dataset '{name}' is missing or not a number")
        if not decision.get("rule"):
            raise ResultFileError(f"{path}: field 'rule' of dataset '{name}' is missing")
        rows.append({**decision, "dataset": str(name)})
    table = pd.DataFrame(rows)
    for column in ("precision", "precision_low", "precision_high", "recall", "recall_low", "recall_high"):
        if column in table.columns:
            table[column] = pd.to_numeric(table[column], errors="coerce")
            check_fraction(table, column, path, "dataset")
    return table.sort_values("dataset", kind="mergesort").reset_index(drop=True)


def _interval_level(thresholds: pd.DataFrame) -> float | None:
    """The level of the precision and recall intervals (Clopper-Pearson), from their counts."""
    needed = {"precision", "precision_low", "precision_high", "n_above", "recall", "recall_low", "recall_high", "n_duplicates"}
    if thresholds.empty or not needed <= set(thresholds.columns):
        return None
    rows = thresholds[thresholds["precision"].notna() & thresholds["precision_low"].notna()]
    if rows.empty:
        return None
    k = np.round(rows["precision"].to_numpy(float) * rows["n_above"].to_numpy(float))
    return clopper_pearson_level(
        np.r_[k, k], np.r_[rows["n_above"].to_numpy(float), rows["n_duplicates"].to_numpy(float)],
        np.r_[rows["precision_low"].to_numpy(float), rows["recall_low"].to_numpy(float)],
        np.r_[rows["precision_high"].to_numpy(float), rows["recall_high"].to_numpy(float)],
    )


def _read_neighbours(path: Path) -> pd.DataFrame | None:
    """The rank-1 neighbour of each evaluation example (None when the file is absent)."""
    if not path.is_file():
        return None
    try:
        neighbours = pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise ResultFileError(f"{path}: not a readable parquet file ({error})") from error
    missing = [c for c in NEIGHBOUR_COLUMNS if c not in neighbours.columns]
    if missing:
        raise ResultFileError(f"{path}: missing column(s) {missing}; found {list(neighbours.columns)}")
    best = neighbours[neighbours["rank"] == 1].astype({"dataset": str, "eval_id": str, "pretraining_id": str})
    return with_score(best[[c for c in (*NEIGHBOUR_COLUMNS, "score") if c != "rank" and c in best.columns]].reset_index(drop=True))


def with_score(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a ``score`` column: what thresholds apply to (the global similarity when unverified)."""
    return frame if "score" in frame.columns else frame.assign(score=frame["similarity"])


def _check_split(best: pd.DataFrame, thresholds: pd.DataFrame, path: Path) -> None:
    """in_overlap must equal score >= threshold (away from the cut, where CSV rounding can flip it)."""
    cut = best["dataset"].map(thresholds.set_index("dataset")["threshold"])
    known = cut.notna() & ((best["score"] - cut).abs() > 1e-6)
    expected = best["score"] >= cut
    wrong = known & (expected != best["in_overlap"].astype(bool))
    if wrong.any():
        row = best.loc[wrong].iloc[0]
        raise ResultFileError(
            f"{path}: field 'in_overlap' of {int(wrong.sum())} example(s) disagrees with thresholds.json, "
            f"e.g. dataset '{row['dataset']}' id '{row['id']}' (score {row['score']}, threshold {cut[wrong].iloc[0]})"
        )


def read_overlap(folder: Path) -> OverlapResults:
    """Load the overlap results of a folder written by `clip-audit overlap` (or the image mode of contamination)."""
    folder = Path(folder)
    thresholds = _read_thresholds(folder / "thresholds.json")
    pairs = _read_neighbours(folder / "neighbours.parquet")
    best = None
    if (folder / "overlap_table.csv").is_file():
        best = with_score(read_csv_checked(folder / "overlap_table.csv", ["dataset", "id", "similarity", "in_overlap"], dtype={"dataset": str, "id": str}))
    elif pairs is not None and not thresholds.empty:
        cut = pairs["dataset"].map(thresholds.set_index("dataset")["threshold"])
        best = pairs.rename(columns={"eval_id": "id"})[["dataset", "id", "similarity", "score"]].assign(in_overlap=(pairs["score"] >= cut).astype(int).to_numpy())
    if best is not None and not thresholds.empty:
        _check_split(best, thresholds, folder / "overlap_table.csv")
    sources = read_optional_json(folder / "sources.json") or {}
    if not isinstance(sources, dict):
        raise ResultFileError(f"{folder / 'sources.json'}: expected an object with 'pretraining' and 'eval'")
    return OverlapResults(
        folder=folder, thresholds=thresholds, best=best, pairs=pairs, sources=sources,
        interval_level=_interval_level(thresholds), summary=read_optional_json(folder / "overlap_summary.json"),
    )
