"""What every engine shares: jobs, failures, retry rules.

An engine runs one module-level shard function, ``task(context, payload) -> result``, on every job,
and calls ``on_done(name, result)`` in the calling process as each job finishes (in any order).
The shard function writes its own result files atomically (a shard whose files exist is never
given to the engine), so whatever order jobs finish in, the reduce that follows reads the same files.

A job that raises is retried up to ``retries`` more times, then reported as a `ShardFailure`; the
other jobs go on. Errors in the user's input (ValueError, FileNotFoundError: a wrong dimension, a
duplicate id, a missing file) are the same on every attempt, so they are raised at once instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

ShardTask = Callable[[Any, Any], Any]
OnDone = Callable[[str, Any], None]
INPUT_ERRORS = (ValueError, FileNotFoundError)


@dataclass(frozen=True)
class ShardJob:
    """One unit of work: a shard's name and the payload the shard function receives."""

    name: str
    payload: Any


@dataclass(frozen=True)
class ShardFailure:
    """A shard that failed on every attempt."""

    name: str
    attempts: int
    error: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"name": self.name, "attempts": self.attempts, "error": self.error}


class ShardsFailed(RuntimeError):
    """Some shards failed on every attempt; the finished ones are kept and a rerun retries the rest."""

    def __init__(self, failures: Sequence[ShardFailure], where: str = "") -> None:
        self.failures = list(failures)
        names = ", ".join(f.name for f in self.failures[:5]) + (" ..." if len(self.failures) > 5 else "")
        last = self.failures[0].error if self.failures else ""
        super().__init__(f"{len(self.failures)} shard(s) failed after retries ({names}); first error: {last}. "
                         f"Finished shards are kept{f' in {where}' if where else ''}: rerun the same command to redo "
                         "only the failed ones")


def describe(error: BaseException) -> str:
    """A one-line description of an exception."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()


class ShardEngine(Protocol):
    """Runs a shard function over jobs; returns the jobs that failed on every attempt."""

    name: str
    in_process: bool  # True when the shard function runs in the caller's process (callbacks may be passed)

    def run(self, task: ShardTask, context: Any, jobs: Sequence[ShardJob], on_done: OnDone) -> list[ShardFailure]:
        """Run `task(context, job.payload)` for every job, calling `on_done` as each finishes."""
        ...
