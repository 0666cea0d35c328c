"""`clip-audit report`: the audit's HTML and PDF report, built from the result files in a folder."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report(
    root: Path = typer.Argument(..., help="Audit folder (results/, overlap/, probes/<name>/ as in reports/README.md)."),
    contamination: Optional[Path] = typer.Option(None, "--contamination", help="contamination.csv, or the folder holding it."),
    overlap: Optional[Path] = typer.Option(None, "--overlap", help="Output folder of `clip-audit overlap`."),
    probes: Optional[Path] = typer.Option(None, "--probes", help="Folder of probe folders (or one probe folder)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where report.html, report.pdf and report.json go (default: DIR)."),
) -> None:
    """Render DIR/report.html and DIR/report.pdf from the result files alone; absent sections say "not run"."""
    from reports.build import build_report
    from reports.layout import resolve_paths
    from reports.result_files import ResultFileError

    try:
        paths = resolve_paths(root, contamination=contamination, overlap=overlap, probes=probes, out=out)
        outputs = build_report(paths)
    except (ResultFileError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    not_run = f"; not run: {', '.join(outputs.sections_not_run)}" if outputs.sections_not_run else ""
    typer.echo(
        f"report: {len(outputs.sections_run)} section(s) with results{not_run}; {outputs.figures} figure(s), "
        f"{outputs.pages} PDF page(s); wrote {outputs.html}, {outputs.pdf} and {outputs.summary}"
    )


def register(app: typer.Typer) -> None:
    """Add the `report` command to the application."""
    app.command("report")(report)
