"""How a command picks its engine: `--engine local|ray`, `--ray-address`, `--ray-workers`, `--shard-retries`."""
from __future__ import annotations

from dataclasses import dataclass

from clip_core.engines.base import ShardEngine
from clip_core.engines.local import LocalEngine

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineOptions:
    """The engine a run uses and its settings (none of them change the results)."""

    engine: str = "local"
    ray_address: str | None = None
    ray_workers: int | None = None
    retries: int = 2

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.retries < 0:
            raise ValueError(f"--shard-retries must be >= 0, got {self.retries}")
        if self.ray_workers is not None and self.ray_workers < 1:
            raise ValueError(f"--ray-workers must be >= 1, got {self.ray_workers}")
        if self.engine == "local" and (self.ray_address or self.ray_workers):
            raise ValueError("--ray-address and --ray-workers need --engine ray")


def build_engine(options: EngineOptions) -> ShardEngine:
    """The engine the options name."""
    if options.engine == "ray":
        from clip_core.engines.ray_engine import RayEngine

        return RayEngine(address=options.ray_address, workers=options.ray_workers, retries=options.retries)
    return LocalEngine(retries=options.retries)
