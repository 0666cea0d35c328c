"""Per-dataset overlap thresholds: explicit, fitted from inspected labels, or the detector's default.

Rules, in order (the paper's step 2, made a tool):

1. ``explicit``: ``--threshold NAME=VALUE``.
2. ``labels``: fitted from labelled pairs (``labels.csv``: dataset, eval_id, pretraining_id,
   is_duplicate). Candidate thresholds are the labelled similarities; the fitted threshold is the
   lowest candidate t such that the estimated precision dup(>= s) / labelled(>= s) is at least the
   target at t and at every higher candidate s ("keep precision high, then maximise recall").
   Precision and recall (recall among labelled duplicates) come with Clopper-Pearson intervals and
   the number of labels behind them. When no candidate keeps the target (the inspected pairs are
   all non-duplicates, say), the threshold goes just above every labelled non-duplicate.
3. ``detector_default``: the detector's calibrated threshold.
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from audit.stats import clopper_pearson

LABEL_COLUMNS = ["dataset", "eval_id", "pretraining_id", "is_duplicate"]
_DUPLICATE_VALUES = {"1": True, "0": False, "true": True, "false": False}


@dataclass(frozen=True)
class ThresholdDecision:
    """The threshold chosen for one dataset, the rule that set it and its label-based estimates."""

    dataset: str
    threshold: float
    rule: str
    note: str = ""
    target_precision: float = math.nan
    n_labels: int = 0
    n_duplicates: int = 0
    n_above: int = 0
    precision: float = math.nan
    precision_low: float = math.nan
    precision_high: float = math.nan
    recall: float = math.nan
    recall_low: float = math.nan
    recall_high: float = math.nan

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dictionary (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def read_labels(path: Path) -> pd.DataFrame:
    """Read labels.csv (four columns, is_duplicate 0/1); a malformed file is an error naming its line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: the labels file is empty; expected a header {','.join(LABEL_COLUMNS)}")
        header = [name.strip() for name in header]
        missing = [c for c in LABEL_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}, line 1: missing column(s) {missing}; expected {LABEL_COLUMNS}")
        where = [header.index(c) for c in LABEL_COLUMNS]
        rows = []
        for fields in reader:
            if not fields:
                continue
            line = f"{path}, line {reader.line_num}"
            if len(fields) != len(header):
                raise ValueError(f"{line}: {len(fields)} field(s), the header has {len(header)}")
            dataset, eval_id, pretraining_id, flag = (fields[i].strip() for i in where)
            for name, value in (("dataset", dataset), ("eval_id", eval_id), ("pretraining_id", pretraining_id)):
                if not value:
                    raise ValueError(f"{line}: column '{name}' is empty")
            if flag.lower() not in _DUPLICATE_VALUES:
                raise ValueError(f"{line}: column 'is_duplicate' must be 0 or 1, found {flag!r}")
            rows.append((dataset, eval_id, pretraining_id, _DUPLICATE_VALUES[flag.lower()]))
    labels = pd.DataFrame(rows, columns=LABEL_COLUMNS).astype({c: str for c in LABEL_COLUMNS[:3]} | {"is_duplicate": bool})
    # The last label of a pair wins, so a relabelled pair can simply be appended.
    return labels.drop_duplicates(["dataset", "eval_id", "pretraining_id"], keep="last").reset_index(drop=True)


def attach_similarities(labels: pd.DataFrame, neighbours: pd.DataFrame, source: str = "labels",
                        column: str = "similarity") -> pd.DataFrame:
    """Look up each labelled pair's `column` (similarity, or the two-stage score) in the neighbour table.

    Unknown pairs are an error.
    """
    keys = ["dataset", "eval_id", "pretraining_id"]
    known = neighbours[keys + [column]].drop_duplicates(keys)
    merged = labels.merge(known, on=keys, how="left")
    unknown = merged[column].isna()
    if unknown.any():
        examples = merged.loc[unknown, keys].head(3).to_dict("records")
        raise ValueError(f"{source}: {int(unknown.sum())} labelled pair(s) are not in the neighbour table, e.g. {examples}")
    return merged


def fit_threshold(
    dataset: str, similarity: np.ndarray, is_duplicate: np.ndarray, target_precision: float = 0.95, confidence: float = 0.95
) -> ThresholdDecision | None:
    """Lowest labelled similarity whose precision stays >= target above it (None without labels).

    When no labelled cut keeps the target precision, the threshold is set just above every
    labelled non-duplicate: precision comes first.
    """
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target_precision must lie in (0, 1], got {target_precision}")
    similarity = np.asarray(similarity, dtype=float)
    is_duplicate = np.asarray(is_duplicate, dtype=bool)
    if similarity.size == 0:
        return None
    order = np.argsort(-similarity, kind="mergesort")
    sims, dups = similarity[order], is_duplicate[order]
    candidates, first = np.unique(-sims, return_index=True)  # distinct values, highest first
    last = np.r_[first[1:], sims.size] - 1  # last position holding each distinct value
    above = last + 1
    dup_above = np.cumsum(dups)[last]
    precision = dup_above / above
    stays = np.minimum.accumulate(precision >= target_precision)
    n_dup = int(dups.sum())
    r_low, r_high = (0.0, 1.0)
    if not stays.any():
        # No labelled cut keeps the precision: keep precision first, above every labelled non-duplicate.
        threshold = float(np.nextafter(sims[~dups].max(), np.inf))
        k = int((dups & (sims >= threshold)).sum())
        if n_dup:
            r_low, r_high = clopper_pearson(k, n_dup, confidence)
        return ThresholdDecision(
            dataset=dataset, threshold=threshold, rule="labels", target_precision=target_precision,
            note=f"no labelled cut keeps precision >= {target_precision}; set above every labelled non-duplicate",
            n_labels=int(sims.size), n_duplicates=n_dup, n_above=k,
            precision=1.0 if k else math.nan, recall=k / n_dup if n_dup else math.nan,
            recall_low=r_low if n_dup else math.nan, recall_high=r_high if n_dup else math.nan,
        )
    chosen = int(np.nonzero(stays)[0][-1])
    n_above, k = int(above[chosen]), int(dup_above[chosen])
    p_low, p_high = clopper_pearson(k, n_above, confidence)
    r_low, r_high = clopper_pearson(k, n_dup, confidence) if n_dup else (math.nan, math.nan)
    return ThresholdDecision(
        dataset=dataset, threshold=float(-candidates[chosen]), rule="labels",
        target_precision=target_precision, n_labels=int(sims.size), n_duplicates=n_dup, n_above=n_above,
        precision=k / n_above, precision_low=p_low, precision_high=p_high,
        recall=k / n_dup if n_dup else math.nan, recall_low=r_low, recall_high=r_high,
    )


def decide_thresholds(
    datasets: list[str],
    explicit: dict[str, float],
    labels: pd.DataFrame | None,
    default: float | Mapping[str, float] | None,
    target_precision: float = 0.95,
    column: str = "similarity",
) -> dict[str, ThresholdDecision]:
    """Choose each dataset's threshold by the rules in order; labels must carry `column` (what thresholds apply to).

    `default` is the detector's calibrated threshold, or per-dataset thresholds decided earlier
    (rule "previous"), used where neither an explicit value nor the labels decide.
    """
    unknown = sorted(set(explicit) - set(datasets))
    if unknown:
        raise ValueError(f"--threshold names unknown dataset(s) {unknown}; known: {sorted(datasets)}")
    if labels is not None:
        unknown = sorted(set(labels["dataset"]) - set(datasets))
        if unknown:
            raise ValueError(f"labels name unknown dataset(s) {unknown}; known: {sorted(datasets)}")
    decisions: dict[str, ThresholdDecision] = {}
    for name in datasets:
        if name in explicit:
            decisions[name] = ThresholdDecision(name, float(explicit[name]), "explicit")
            continue
        note = ""
        if labels is not None and (labels["dataset"] == name).any():
            rows = labels[labels["dataset"] == name]
            decisions[name] = fit_threshold(name, rows[column].to_numpy(), rows["is_duplicate"].to_numpy(), target_precision)
            continue
        fallback = default.get(name) if isinstance(default, Mapping) else default
        if fallback is None:
            raise ValueError(
                f"no threshold for dataset '{name}'{': ' + note if note else ''}; pass --threshold {name}=VALUE, "
                "--labels labels.csv, or use a detector with a calibrated default threshold"
            )
        rule = "previous" if isinstance(default, Mapping) else "detector_default"
        decisions[name] = ThresholdDecision(name, float(fallback), rule, note=note)
    return decisions
