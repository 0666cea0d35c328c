"""The one result type every probe returns, and its writers (rates.csv, summary.json, provenance.json)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from audit.probes.disaggregated import DisaggregatedRate
from clip_core.atomic_files import atomic_write_text

RATES_FILE = "rates.csv"
SUMMARY_FILE = "summary.json"
PROVENANCE_FILE = "provenance.json"


@dataclass(frozen=True)
class ProbeResult:
    """Rates by group (rates.csv), spread figures and findings (summary.json), provenance and extra tables."""

    probe: str
    rates: pd.DataFrame
    disaggregated: tuple[DisaggregatedRate, ...]
    summary: dict
    provenance: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def rate(self, category: str, attribute: str, **extra: object) -> DisaggregatedRate:
        """The disaggregated rate of one category by one attribute (extra: label_set=..., threshold=...)."""
        found = [r for r in self.disaggregated if r.category == category and r.attribute == attribute
                 and all(dict(r.extra).get(k) == v for k, v in extra.items())]
        if len(found) != 1:
            raise KeyError(f"{self.probe}: {len(found)} results for category {category!r}, attribute {attribute!r} "
                           f"{extra or ''}")
        return found[0]

    def summary_document(self) -> dict:
        """summary.json: the probe's findings, warnings and one entry per (category, attribute)."""
        return {"probe": self.probe, **self.summary, "warnings": list(self.warnings),
                "rates": [r.summary() for r in self.disaggregated]}


def _json_safe(value: object) -> object:
    """Recursively replace NaN/inf by None and numpy scalars by Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # type: ignore[union-attr]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, document: dict) -> Path:
    """Write a JSON document atomically (NaN written as null)."""
    atomic_write_text(path, json.dumps(_json_safe(document), indent=2, allow_nan=False) + "\n")
    return path


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    """Write a CSV table atomically."""
    atomic_write_text(path, table.to_csv(index=False, float_format="%.10g"))
    return path


def write_probe_result(result: ProbeResult, out_dir: Path) -> dict[str, Path]:
    """Write DIR/rates.csv, DIR/summary.json, DIR/provenance.json and any extra tables; return the paths."""
    out_dir = Path(out_dir)
    paths = {"rates": write_csv(out_dir / RATES_FILE, result.rates)}
    for name, table in result.tables.items():
        paths[name] = write_csv(out_dir / f"{name}.csv", table)
    paths["summary"] = write_json(out_dir / SUMMARY_FILE, result.summary_document())
    paths["provenance"] = write_json(out_dir / PROVENANCE_FILE, result.provenance)
    return paths
