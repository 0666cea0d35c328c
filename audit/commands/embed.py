"""`clip-audit embed`: image source -> L2-normalised detector descriptors (resumable)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def embed(
    images: str = typer.Option(..., "--images", help="Images: folder, CSV manifest, WebDataset shards or synthetic:<task>."),
    out: Path = typer.Option(..., "--out", help="Output folder: descriptors.npy + ids.txt (or numbered pairs), skipped.csv."),
    detector: str = typer.Option("default", "--detector", help="default, PATH to a detector checkpoint, or sscd:PATH."),
    batch_size: int = typer.Option(64, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (bf16 and channels_last on CUDA)."),
    single_file_limit: int = typer.Option(100_000, "--single-file-limit", help="Above this many images, write numbered pairs."),
    format: Optional[str] = typer.Option(None, "--format", help="Override the detected source format."),
) -> None:
    """Compute one descriptor per readable image; unreadable images go to skipped.csv; a rerun resumes."""
    from detector.checkpoint import resolve_detector
    from detector.embed import EmbedConfig, embed_source

    try:
        config = EmbedConfig(batch_size=batch_size, device=device, single_file_limit=single_file_limit, format=format)
        model = resolve_detector(detector)
        result = embed_source(images, out, model, detector, config)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    state = "already done" if result.already_done else "done"
    typer.echo(f"{state}: {result.count} descriptors ({result.dim}-d), {result.skipped} skipped -> {out}")


def register(app: typer.Typer) -> None:
    """Add the `embed` command to the application."""
    app.command("embed")(embed)
