"""Readers that turn an overlap table and prediction files into contamination rows.

- Overlap table (CSV): columns ``dataset, id, similarity`` and optionally ``in_overlap``; one row per
  evaluation example (several rows per example are reduced to the best similarity).
- Predictions (CSV) of any model: ``id, correct`` (0/1) or ``id, prediction, label``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from audit.contamination import parse_binary


@dataclass(frozen=True)
class ContaminationInputs:
    """What table mode of `clip-audit contamination` reads: files and per-dataset thresholds."""

    overlap_table: Path
    predictions: dict[str, Path]
    thresholds: dict[str, float] = field(default_factory=dict)


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """Split a NAME=VALUE command-line assignment, naming the option on malformed input."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ValueError(f"{option} expects NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV with string ids, with clear errors for missing or empty files."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype={"id": str, "dataset": str, "prediction": str, "label": str})
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{path}: the {what} file is empty") from error
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _require(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Raise if any of the columns is absent, naming the file and the columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")


def read_overlap_table(path: Path) -> pd.DataFrame:
    """Read the overlap table, one row per (dataset, id) with its best similarity."""
    frame = _read_csv(path, "overlap table")
    _require(frame, ["dataset", "id", "similarity"], path)
    if frame.empty:
        raise ValueError(f"{path}: the overlap table has no rows")
    similarity = pd.to_numeric(frame["similarity"], errors="coerce")
    if similarity.isna().any():
        bad = frame.loc[similarity.isna(), "similarity"].astype(str).head(3).tolist()
        raise ValueError(f"{path}: column 'similarity' must be numeric, found {bad}")
    frame["similarity"] = similarity
    aggregations: dict[str, str] = {"similarity": "max"}
    if "in_overlap" in frame.columns:
        known = frame["in_overlap"].notna()
        flags = pd.Series(math.nan, index=frame.index, dtype=float)
        flags[known] = parse_binary(frame.loc[known, "in_overlap"], "in_overlap", str(path)).astype(float)
        frame["in_overlap"] = flags
        aggregations["in_overlap"] = "max"
    return frame.groupby(["dataset", "id"], as_index=False, sort=False).agg(aggregations)


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions file into columns id, correct (bool)."""
    frame = _read_csv(path, "predictions")
    if "id" not in frame.columns:
        raise ValueError(f"{path}: missing column 'id'; found {list(frame.columns)}")
    if "correct" in frame.columns:
        correct = parse_binary(frame["correct"], "correct", str(path))
    elif {"prediction", "label"} <= set(frame.columns):
        correct = frame["prediction"].astype(str).str.strip() == frame["label"].astype(str).str.strip()
    else:
        raise ValueError(
            f"{path}: needs columns id,correct or id,prediction,label; found {list(frame.columns)}"
        )
    if frame.empty:
        raise ValueError(f"{path}: the predictions file has no rows")
    repeated = frame["id"].duplicated()
    if repeated.any():
        raise ValueError(f"{path}: repeated id(s) {frame.loc[repeated, 'id'].head(5).tolist()}")
    return pd.DataFrame({"id": frame["id"].astype(str), "correct": correct.to_numpy(bool)})


def read_labelled_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions file into id, correct and, when the file has one, its label column."""
    predictions = read_predictions(path)
    raw = _read_csv(path, "predictions")
    if "label" in raw.columns:
        predictions["label"] = raw["label"].astype("string").str.strip().to_numpy()
    return predictions


def few_ids(ids: set[str]) -> str:
    """A short listing of some ids."""
    shown = sorted(ids)[:5]
    return ", ".join(shown) + (f" (and {len(ids) - len(shown)} more)" if len(ids) > len(shown) else "")


def _overlap_flags(name: str, table: pd.DataFrame, thresholds: dict[str, float], path: Path) -> pd.Series:
    """Decide in_overlap for one dataset: explicit threshold first, else the in_overlap column."""
    if name in thresholds:
        return table["similarity"] >= thresholds[name]
    if "in_overlap" in table.columns and table["in_overlap"].notna().all():
        return table["in_overlap"].astype(bool)
    raise ValueError(
        f"{path}: dataset '{name}' has neither an in_overlap column (for all its rows) nor a "
        f"threshold; pass --threshold {name}=VALUE"
    )


def build_rows(inputs: ContaminationInputs) -> pd.DataFrame:
    """Join the overlap table with each dataset's predictions into rows for contamination_table."""
    overlap = read_overlap_table(inputs.overlap_table)
    known = set(overlap["dataset"])
    for name, value in inputs.thresholds.items():
        if name not in known:
            raise ValueError(f"--threshold names dataset '{name}', which is not in {inputs.overlap_table}")
        if math.isnan(value):
            raise ValueError(f"--threshold {name}: value must be a number")
    if not inputs.predictions:
        raise ValueError("no --predictions given: pass at least one NAME=PREDS.csv")
    parts = []
    for name, path in inputs.predictions.items():
        if name not in known:
            raise ValueError(f"--predictions names dataset '{name}', which is not in {inputs.overlap_table}")
        table = overlap[overlap["dataset"] == name].reset_index(drop=True)
        predictions = read_predictions(path)
        only_overlap = set(table["id"]) - set(predictions["id"])
        only_predictions = set(predictions["id"]) - set(table["id"])
        if only_overlap or only_predictions:
            lines = [f"dataset '{name}': the ids of {inputs.overlap_table} and {path} differ"]
            if only_overlap:
                lines.append(f"{len(only_overlap)} only in the overlap table: {few_ids(only_overlap)}")
            if only_predictions:
                lines.append(f"{len(only_predictions)} only in the predictions: {few_ids(only_predictions)}")
            raise ValueError("; ".join(lines))
        flags = _overlap_flags(name, table, inputs.thresholds, inputs.overlap_table)
        merged = pd.DataFrame({"dataset": name, "id": table["id"], "in_overlap": flags.to_numpy(bool)})
        parts.append(merged.merge(predictions, on="id", how="inner", validate="one_to_one"))
    return pd.concat(parts, ignore_index=True)
