"""`clip-audit inspect`: a page to label near-duplicate pairs around a dataset's threshold."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from clip_core.atomic_files import atomic_write_text
from audit.inspect_page import LABELS_FILE, InspectOptions, make_server, render_page


def inspect(
    overlap_dir: Path = typer.Option(..., "--overlap", help="Output folder of `clip-audit overlap`."),
    dataset: str = typer.Option(..., "--dataset", help="Evaluation set to inspect."),
    count: int = typer.Option(200, "--count", help="Pairs shown, the closest to the threshold."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Candidate threshold (default: thresholds.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: OVERLAP/inspect-DATASET.html)."),
    serve: bool = typer.Option(False, "--serve", help="Serve the page on 127.0.0.1 and save labels into OVERLAP/labels.csv."),
    port: int = typer.Option(8765, "--port", help="Port for --serve (0 picks a free one)."),
) -> None:
    """Show pairs ordered by similarity around the threshold and record duplicate / not-duplicate labels."""
    options = InspectOptions(dataset=dataset, count=count, threshold=threshold)
    try:
        if serve:
            server = make_server(overlap_dir, options, port)
            host, bound = server.server_address[:2]
            typer.echo(f"labelling {dataset} at http://{host}:{bound}/ ; labels go to {overlap_dir / LABELS_FILE}; Ctrl-C to stop")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                server.server_close()
            return
        page = render_page(overlap_dir, options)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    target = out or overlap_dir / f"inspect-{dataset}.html"
    atomic_write_text(target, page)
    typer.echo(f"wrote {target}; open it, label pairs with d / n, save labels.csv, then pass it as --labels")


def register(app: typer.Typer) -> None:
    """Add the `inspect` command to the application."""
    app.command("inspect")(inspect)
