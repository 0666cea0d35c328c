"""The command-line options that pick an engine, shared by `clip-audit embed` and `clip-audit overlap`."""
from __future__ import annotations

from typing import Optional

import typer

from clip_core.engines.options import EngineOptions

ENGINE = typer.Option("local", "--engine", help="local (this process) or ray (a Ray cluster; pip install 'clip-audit[ray]').")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="Ray cluster to join (default: RAY_ADDRESS, else a new local cluster).")
RAY_WORKERS = typer.Option(None, "--ray-workers", help="Ray actors (default: one per GPU, else one per CPU).")
SHARD_RETRIES = typer.Option(2, "--shard-retries", help="Times a failed shard is retried before it is reported.")


def engine_options(engine: str, ray_address: Optional[str], ray_workers: Optional[int], retries: int) -> EngineOptions:
    """The engine options of a command line (validated)."""
    return EngineOptions(engine=engine, ray_address=ray_address, ray_workers=ray_workers, retries=retries)
