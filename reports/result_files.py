"""Reading result files for the report: checked CSV and JSON, flattened provenance, interval levels.

Every problem is a ``ResultFileError`` naming the file and the field, so a wrong result upstream
stops the report loudly instead of being printed as if it were true.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats


class ResultFileError(ValueError):
    """A result file is missing a field, unreadable, or holds impossible values."""


def read_csv_checked(path: Path, required: Iterable[str], dtype: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Read a CSV and check that the required columns are there."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=dtype, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ResultFileError(f"{path}: not a readable CSV ({error})") from error
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ResultFileError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


def read_json(path: Path) -> object:
    """Read a JSON file, naming the file when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultFileError(f"{path}: not valid JSON ({error})") from error


def read_optional_json(path: Path) -> object | None:
    """A JSON file's content, or None when the file does not exist."""
    return read_json(path) if Path(path).is_file() else None


def flatten(value: object, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dictionaries and lists as (dotted key, scalar) pairs, in file order."""
    if isinstance(value, Mapping):
        pairs: list[tuple[str, object]] = []
        for key, item in value.items():
            pairs += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
        pairs = []
        for index, item in enumerate(value):
            pairs += flatten(item, f"{prefix}[{index}]")
        return pairs
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value))]
    return [(prefix, value)]


def check_fraction(frame: pd.DataFrame, column: str, path: Path, key: str) -> None:
    """Values of a column must lie in [0, 1] (empty allowed); name the offending row otherwise."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & (values.isna() | (values < -1e-12) | (values > 1 + 1e-12))
    if bad.any():
        row = frame.loc[bad].iloc[0]
        raise ResultFileError(f"{path}: field '{column}' = {row[column]!r} for {key} '{row[key]}' is not a fraction in [0, 1]")


def clopper_pearson_level(k: np.ndarray, n: np.ndarray, low: np.ndarray, high: np.ndarray) -> float | None:
    """The confidence level at which Clopper-Pearson gives these intervals (None if they disagree).

    Inverts the beta-quantile form: high = Beta(1 - a/2; k + 1, n - k) and low = Beta(a/2; k, n - k + 1).
    Each bound with an informative count gives one estimate of the level; they must agree to 1e-3.
    """
    k, n, low, high = (np.asarray(a, dtype=float) for a in (k, n, low, high))
    ok = np.isfinite(k) & np.isfinite(n) & np.isfinite(low) & np.isfinite(high) & (n > 0)
    k, n, low, high = k[ok], n[ok], low[ok], high[ok]
    levels = []
    upper = k < n
    if upper.any():
        levels += list(1 - 2 * stats.beta.sf(high[upper], k[upper] + 1, n[upper] - k[upper]))
    lower = k > 0
    if lower.any():
        levels += list(1 - 2 * stats.beta.cdf(low[lower], k[lower], n[lower] - k[lower] + 1))
    if not levels:
        return None
    levels_array = np.asarray(levels)
    if levels_array.max() - levels_array.min() > 1e-3:
        return None
    return float(np.round(levels_array.mean(), 4))


def finite(value: object) -> bool:
    """True for a real, finite number."""
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
