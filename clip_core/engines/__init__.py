"""Engines that run per-shard work: `local` (in this process) and `ray` (a Ray cluster); same shard functions."""
from clip_core.engines.base import ShardEngine, ShardFailure, ShardJob, ShardsFailed
from clip_core.engines.local import LocalEngine
from clip_core.engines.options import ENGINES, EngineOptions, build_engine

__all__ = ["ENGINES", "EngineOptions", "LocalEngine", "ShardEngine", "ShardFailure", "ShardJob", "ShardsFailed",
           "build_engine"]
