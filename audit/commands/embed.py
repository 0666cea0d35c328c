"""`clip-audit embed`: image source -> L2-normalised detector descriptors (resumable)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audit import engine_cli
from audit.cli_params import flag
from clip_core.engines import ShardsFailed, build_engine
from clip_core.skip_check import DEFAULT_MAX_SKIPPED_FRACTION, TooManySkipped, check_readable, skipped_fraction, validate_fraction


def embed(
    images: str = typer.Option(..., "--images", help="Images: folder, CSV manifest, WebDataset shards or synthetic:<task>."),
    out: Path = typer.Option(..., "--out", help="Output folder: descriptors.npy + ids.txt (or numbered pairs), skipped.csv."),
    detector: str = typer.Option("default", "--detector", help="default, PATH to a detector checkpoint, or sscd:PATH."),
    batch_size: int = typer.Option(64, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (bf16 and channels_last on CUDA)."),
    single_file_limit: int = typer.Option(100_000, "--single-file-limit", help="Above this many images, write numbered pairs."),
    format: Optional[str] = typer.Option(None, "--format", help="Override the detected source format."),
    overwrite: bool = flag(False, "--overwrite/--no-overwrite", help="Clear the output folder's descriptors and start over (a rerun with other settings is refused without it)."),
    max_skipped_fraction: float = typer.Option(DEFAULT_MAX_SKIPPED_FRACTION, "--max-skipped-fraction", help="Exit non-zero when more than this fraction of the images is unreadable."),
    engine: str = engine_cli.ENGINE,
    ray_address: Optional[str] = engine_cli.RAY_ADDRESS,
    ray_workers: Optional[int] = engine_cli.RAY_WORKERS,
    shard_retries: int = engine_cli.SHARD_RETRIES,
) -> None:
    """Compute one descriptor per readable image; unreadable images go to skipped.csv; a rerun resumes."""
    from detector.checkpoint import resolve_detector
    from detector.embed import EmbedConfig, embed_source

    try:
        validate_fraction(max_skipped_fraction)
        shard_engine = build_engine(engine_cli.engine_options(engine, ray_address, ray_workers, shard_retries))
        config = EmbedConfig(batch_size=batch_size, device=device, single_file_limit=single_file_limit, format=format)
        model = resolve_detector(detector)
        result = embed_source(images, out, model, detector, config, overwrite=overwrite, engine=shard_engine)
    except ShardsFailed as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    state = "already done" if result.already_done else "done"
    fraction = skipped_fraction(result.count, result.skipped)
    typer.echo(f"{state}: {result.count} descriptors ({result.dim}-d), {result.skipped} unreadable image(s) skipped "
               f"({fraction:.1%}, listed in {out / 'skipped.csv'}) -> {out}")
    try:
        check_readable(result.count, result.skipped, max_skipped_fraction, f"--images {images}", str(out / "skipped.csv"))
    except TooManySkipped as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error


def register(app: typer.Typer) -> None:
    """Add the `embed` command to the application."""
    app.command("embed")(embed)
