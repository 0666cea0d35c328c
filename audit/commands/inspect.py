"""`clip-audit inspect`: a page to label near-duplicate pairs around a dataset's threshold."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from clip_core.atomic_files import atomic_write_text
from audit.cli_params import flag, port_number, positive_count, similarity_value
from audit.inspect_page import LABELS_FILE, InspectOptions, render_page
from audit.inspect_server import ServerConfig, make_server


def inspect(
    overlap_dir: Path = typer.Option(..., "--overlap", help="Output folder of `clip-audit overlap`."),
    dataset: str = typer.Option(..., "--dataset", help="Evaluation set to inspect."),
    count: int = typer.Option(200, "--count", help="Pairs shown, the closest to the threshold.", callback=positive_count),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="Candidate threshold on the pairs' score (the similarity for a --no-verify run), in [-1, 1] (default: thresholds.json).",
        callback=similarity_value,
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: OVERLAP/inspect-DATASET.html)."),
    serve: bool = flag(False, "--serve/--no-serve", help="Serve the page on 127.0.0.1 and save labels into OVERLAP/labels.csv."),
    port: int = typer.Option(8765, "--port", help="Port for --serve (0 picks a free one).", callback=port_number),
) -> None:
    """Show pairs ordered by score around the threshold and record duplicate / not-duplicate labels."""
    options = InspectOptions(dataset=dataset, count=count, threshold=threshold)
    try:
        if serve:
            server = make_server(overlap_dir, options, ServerConfig(port=port))
            typer.echo(f"labelling {dataset} at {server.url} ; labels go to {overlap_dir / LABELS_FILE}; Ctrl-C to stop")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                server.server_close()
            return
        page = render_page(overlap_dir, options)
    except (ValueError, FileNotFoundError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    target = out or overlap_dir / f"inspect-{dataset}.html"
    atomic_write_text(target, page)
    typer.echo(f"wrote {target}; open it, label pairs with d / n, save labels.csv, then pass it as --labels")


def register(app: typer.Typer) -> None:
    """Add the `inspect` command to the application."""
    app.command("inspect")(inspect)
