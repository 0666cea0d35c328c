"""The bias probes' results: each probe folder's rates.csv, summary.json, provenance.json, differences.csv.

``rates.csv`` has one row per (category, attribute, group) with columns probe, category, attribute,
group, n, count, rate, ci_low, ci_high (class-design adds ``label_set``). Checks: 0 <= count <= n,
n > 0, rate = count / n, ci_low <= rate <= ci_high, all in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.result_files import ResultFileError, check_fraction, clopper_pearson_level, read_csv_checked, read_optional_json

RATE_COLUMNS = ("probe", "category", "attribute", "group", "n", "count", "rate", "ci_low", "ci_high")
_TEXT = {"probe": str, "category": str, "attribute": str, "group": str, "label_set": str}


@dataclass(frozen=True)
class ProbeResults:
    """One probe's disaggregated rates and the files beside them."""

    name: str
    folder: Path
    rates: pd.DataFrame
    confidence: float | None  # level of the rate intervals, inferred from the counts
    summary: object | None
    provenance: object | None
    differences: pd.DataFrame | None


def _check_rates(rates: pd.DataFrame, path: Path) -> None:
    """Counts and rates that must agree; the first violation is an error naming row and field."""
    def fail(mask: pd.Series, field: str, rule: str) -> None:
        if mask.any():
            row = rates.loc[mask].iloc[0]
            raise ResultFileError(
                f"{path}: field '{field}' breaks {rule} for category '{row['category']}', "
                f"attribute '{row['attribute']}', group '{row['group']}'"
            )

    for column in ("n", "count"):
        values = pd.to_numeric(rates[column], errors="coerce")
        fail(values.isna() | (values < 0) | (values != values.round()), column, "being a whole non-negative count")
    empty = rates["n"] == 0
    fail(empty & ((rates["count"] != 0) | rates["rate"].notna()), "rate", "an empty group (n = 0) having no count and no rate")
    fail(~empty & rates["rate"].isna(), "rate", "being given when n > 0")
    fail(rates["count"] > rates["n"], "count", "count <= n")
    for column in ("rate", "ci_low", "ci_high"):
        check_fraction(rates, column, path, "group")
    fail(~empty & ((rates["rate"] - rates["count"] / rates["n"].where(~empty, 1)).abs() > 1e-6), "rate", "rate = count / n")
    fail(~empty & ((rates["ci_low"] > rates["rate"] + 1e-9) | (rates["ci_high"] < rates["rate"] - 1e-9)),
         "ci_low", "ci_low <= rate <= ci_high")


def extra_columns(rates: pd.DataFrame) -> list[str]:
    """Identifying columns beyond the standard ones (label_set, threshold, ...), in file order."""
    return [c for c in rates.columns if c not in RATE_COLUMNS]


def read_probe(folder: Path) -> ProbeResults:
    """Load and check one probe folder."""
    folder = Path(folder)
    path = folder / "rates.csv"
    rates = read_csv_checked(path, RATE_COLUMNS, dtype=_TEXT)
    if rates.empty:
        raise ResultFileError(f"{path}: no rows")
    _check_rates(rates, path)
    names = rates["probe"].unique()
    differences = None
    if (folder / "differences.csv").is_file():
        differences = read_csv_checked(folder / "differences.csv", [], dtype=_TEXT)
    return ProbeResults(
        name=str(names[0]) if len(names) == 1 else folder.name, folder=folder, rates=rates.reset_index(drop=True),
        confidence=clopper_pearson_level(*(rates.loc[rates["n"] > 0, c].to_numpy(float) for c in ("count", "n", "ci_low", "ci_high"))),
        summary=read_optional_json(folder / "summary.json"), provenance=read_optional_json(folder / "provenance.json"),
        differences=differences,
    )


def panel_keys(rates: pd.DataFrame) -> list[tuple[str, ...]]:
    """The panels of a rates table: (category, attribute, other extras but label_set), in file order."""
    columns = ["category", "attribute", *(c for c in extra_columns(rates) if c != "label_set")]
    return [tuple(str(v) for v in key) for key in rates[columns].astype(str).drop_duplicates().itertuples(index=False)]


def panel_rows(rates: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """The rows of one panel (see panel_keys)."""
    columns = ["category", "attribute", *(c for c in extra_columns(rates) if c != "label_set")]
    mask = pd.Series(True, index=rates.index)
    for column, value in zip(columns, key):
        mask &= rates[column].astype(str) == value
    return rates[mask]


def panel_title(rates: pd.DataFrame, key: tuple[str, ...]) -> str:
    """A panel's title: 'category by attribute' plus any extra identifying values."""
    extras = [c for c in extra_columns(rates) if c != "label_set"]
    suffix = "".join(f", {c} {v}" for c, v in zip(extras, key[2:]))
    return f"{key[0]} by {key[1]}{suffix}"


def widest_gap(rates: pd.DataFrame) -> dict | None:
    """The panel whose non-empty groups differ most in rate, with its highest and lowest group."""
    best = None
    frame = rates[rates["n"] > 0]
    if "label_set" in frame.columns and not frame.empty:
        frame = frame[frame["label_set"] == frame["label_set"].iloc[0]]
    for key in panel_keys(frame):
        rows = panel_rows(frame, key)
        if len(rows) < 2:
            continue
        high, low = rows.loc[rows["rate"].idxmax()], rows.loc[rows["rate"].idxmin()]
        gap = float(high["rate"] - low["rate"])
        if best is None or gap > best["gap"]:
            best = {"panel": panel_title(frame, key), "gap": gap, "high": high.to_dict(), "low": low.to_dict(),
                    "separated": bool(high["ci_low"] > low["ci_high"]),
                    "label_set": None if "label_set" not in rows.columns else str(rows["label_set"].iloc[0])}
    return best
