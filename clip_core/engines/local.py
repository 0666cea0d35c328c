"""The local engine: shard functions run one after another in this process (the default)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tqdm import tqdm

from clip_core.engines.base import INPUT_ERRORS, OnDone, ShardFailure, ShardJob, ShardTask, describe


@dataclass
class LocalEngine:
    """Runs each job in the calling process; a job that raises is retried `retries` more times."""

    retries: int = 2
    name: str = "local"
    in_process: bool = True

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"shard retries must be >= 0, got {self.retries}")

    def run(self, task: ShardTask, context: Any, jobs: Sequence[ShardJob], on_done: OnDone) -> list[ShardFailure]:
        """Run every job in order; report those that fail on every attempt."""
        failures: list[ShardFailure] = []
        for job in jobs:
            for attempt in range(1, self.retries + 2):
                try:
                    result = task(context, job.payload)
                except INPUT_ERRORS:
                    raise
                except Exception as error:  # noqa: BLE001 - any other failure of one shard is retried, then reported
                    tqdm.write(f"warning: shard '{job.name}' failed (attempt {attempt} of {self.retries + 1}): {describe(error)}")
                    if attempt > self.retries:
                        failures.append(ShardFailure(job.name, attempt, describe(error)))
                    continue
                on_done(job.name, result)
                break
        return failures
