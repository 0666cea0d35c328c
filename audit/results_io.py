"""Result tables written next to each other as CSV and JSON (same columns), atomically."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from clip_core.atomic_files import atomic_write_text


def _json_value(value: object) -> object:
    """A JSON-safe scalar: NaN becomes null, numpy scalars become Python numbers."""
    if hasattr(value, "item"):
        value = value.item()  # type: ignore[union-attr]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def table_records(table: pd.DataFrame) -> list[dict[str, object]]:
    """Rows of a table as JSON-safe dictionaries in column order."""
    return [{column: _json_value(value) for column, value in row.items()} for row in table.to_dict("records")]


def write_table(table: pd.DataFrame, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write DIR/STEM.csv and DIR/STEM.json with the same columns; return both paths."""
    out_dir = Path(out_dir)
    csv_path, json_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.json"
    atomic_write_text(csv_path, table.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(json_path, json.dumps(table_records(table), indent=2) + "\n")
    return csv_path, json_path


def _cell(value: object) -> str:
    """Format a table cell for the terminal."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def print_table(table: pd.DataFrame, title: str) -> None:
    """Print a result table to the terminal."""
    view = Table(title=title, show_lines=False)
    for column in table.columns:
        view.add_column(str(column), overflow="fold")
    for row in table.itertuples(index=False):
        view.add_row(*(_cell(v) for v in row))
    Console(width=max(120, 12 * len(table.columns))).print(view)
