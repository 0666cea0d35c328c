"""`clip-audit contamination`: the Clean/Overlap/All table from an overlap table and predictions."""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer

from audit.contamination import contamination_table
from audit.contamination_inputs import ContaminationInputs, build_rows, parse_assignment
from audit.results_io import print_table, write_table


def _parse_thresholds(values: list[str]) -> dict[str, float]:
    """Parse repeated --threshold NAME=VALUE options."""
    thresholds: dict[str, float] = {}
    for text in values:
        name, value = parse_assignment(text, "--threshold")
        try:
            thresholds[name] = float(value)
        except ValueError as error:
            raise ValueError(f"--threshold {name}: {value!r} is not a number") from error
        if math.isnan(thresholds[name]):
            raise ValueError(f"--threshold {name}: value must be a number")
    return thresholds


def contamination(
    overlap_table: Path = typer.Option(
        ..., "--overlap-table", help="CSV with columns dataset,id,similarity[,in_overlap]."
    ),
    predictions: List[str] = typer.Option(
        ..., "--predictions", help="NAME=PREDS.csv with id,correct or id,prediction,label (repeatable)."
    ),
    threshold: Optional[List[str]] = typer.Option(
        None, "--threshold", help="NAME=VALUE: examples with similarity >= VALUE are Overlap (repeatable)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder for contamination.csv and contamination.json."),
    confidence: float = typer.Option(0.995, "--confidence", help="Confidence of the Clopper-Pearson interval."),
) -> None:
    """Split each evaluation set into Clean/Overlap/All and test whether overlap inflates accuracy."""
    try:
        inputs = ContaminationInputs(
            overlap_table=overlap_table,
            predictions={name: Path(path) for name, path in (parse_assignment(p, "--predictions") for p in predictions)},
            thresholds=_parse_thresholds(threshold or []),
        )
        table = contamination_table(build_rows(inputs), confidence=confidence)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    csv_path, json_path = write_table(table, out, "contamination")
    print_table(table, title="Contamination (Radford et al. 2021, section 5)")
    significant = int((table["p_bonferroni"] < 0.05).sum())
    typer.echo(
        f"{len(table)} dataset(s), {int((table['n_overlap'] > 0).sum())} with overlap, "
        f"{significant} significant after Bonferroni; wrote {csv_path} and {json_path}"
    )


def register(app: typer.Typer) -> None:
    """Add the `contamination` command to the application."""
    app.command("contamination")(contamination)
