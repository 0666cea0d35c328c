"""The Ray engine: shard functions run in Ray actors, on a local cluster or one given by address.

Each actor holds the run's context (the broadcast evaluation index, verification stores, the
detector once loaded) and runs one shard at a time; a cluster with GPUs gets one actor per GPU
(the detector loaded once per actor, decoding on the actor's CPUs), otherwise one single-thread actor
per CPU. The driver keeps every actor busy, retries a shard whose actor raised or died (a dead
actor is replaced), and reports shards that failed on every attempt. Ray itself is optional
(``pip install 'clip-audit[ray]'``, pinned to one version); usage statistics and the dashboard are
off unless the user turns them on.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from tqdm import tqdm

from clip_core.engines.base import INPUT_ERRORS, OnDone, ShardFailure, ShardJob, ShardTask, describe

RAY_VERSION = "2.60.0"


def import_ray() -> Any:
    """Ray, or a clear error saying how to install it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as error:
        raise ValueError(f"--engine ray needs Ray: pip install 'clip-audit[ray]' (ray[default]=={RAY_VERSION})") from error
    return ray


class ShardActor:
    """Holds a run's context and runs the shard function on one payload at a time."""

    def __init__(self, task: ShardTask, context: Any, threads: int, cwd: str) -> None:
        import torch

        torch.set_num_threads(threads)
        if os.path.isdir(cwd):  # relative paths in the context mean what they mean to the driver
            os.chdir(cwd)
        self.task, self.context = task, context

    def ready(self) -> int:
        """The actor's process id, once it has started and holds the context."""
        return os.getpid()

    def run(self, payload: Any) -> Any:
        """The shard function on one payload."""
        return self.task(self.context, payload)


@dataclass
class RayTimings:
    """Where a Ray run's time went: connecting (or starting a cluster), broadcasting, starting actors, the shards."""

    connect_s: float = 0.0
    broadcast_s: float = 0.0
    actors_s: float = 0.0
    shards_s: float = 0.0
    started_cluster: bool = False

    def overhead_s(self) -> float:
        """Ray's own start-up and broadcast time, outside the shard work."""
        return self.connect_s + self.broadcast_s + self.actors_s


@dataclass
class RayEngine:
    """Runs jobs on Ray actors; `address` None joins RAY_ADDRESS when set, else starts a local cluster."""

    address: str | None = None
    workers: int | None = None  # None: one per GPU, else one per CPU / threads
    threads: int = 1  # torch threads per actor
    retries: int = 2
    shutdown_started: bool = True  # stop a cluster this engine started when the run ends
    name: str = "ray"
    in_process: bool = False
    timings: RayTimings = field(default_factory=RayTimings)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"shard retries must be >= 0, got {self.retries}")
        if self.threads < 1:
            raise ValueError(f"threads per Ray worker must be >= 1, got {self.threads}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"Ray workers must be >= 1, got {self.workers}")

    def connect(self) -> Any:
        """Ray, initialised: an existing connection, the given address, RAY_ADDRESS, or a new local cluster."""
        ray = import_ray()
        if ray.is_initialized():
            return ray
        start = time.perf_counter()
        address = self.address or os.environ.get("RAY_ADDRESS")
        quiet = dict(logging_level=logging.WARNING, log_to_driver=True)
        if address:
            try:
                ray.init(address=address, **quiet)
            except ConnectionError as error:
                raise ValueError(f"--engine ray: could not join the Ray cluster at {address!r} (from "
                                 f"{'--ray-address' if self.address else 'RAY_ADDRESS'}): {error}") from error
        else:
            ray.init(include_dashboard=False, **quiet)
            self.timings.started_cluster = True
        self.timings.connect_s = time.perf_counter() - start
        return ray

    def _actor_options(self, ray: Any) -> tuple[int, dict[str, Any]]:
        """(how many actors, the resources of each)."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:  # more actors than GPUs share them (fractional GPUs), never wait for a GPU that is not there
            count = self.workers or gpus
            cpus = max(1, int(resources.get("CPU", 1)) // count)
            return count, {"num_gpus": min(1.0, gpus / count), "num_cpus": cpus}
        cpus = int(resources.get("CPU", 1))
        return self.workers or max(1, cpus // self.threads), {"num_cpus": self.threads}

    def run(self, task: ShardTask, context: Any, jobs: Sequence[ShardJob], on_done: OnDone) -> list[ShardFailure]:
        """Run every job on the actors, keeping each busy; retry and report failures."""
        if not jobs:
            return []
        ray = self.connect()
        try:
            return self._run(ray, task, context, list(jobs), on_done)
        finally:
            if self.timings.started_cluster and self.shutdown_started:
                ray.shutdown()

    def _run(self, ray: Any, task: ShardTask, context: Any, jobs: list[ShardJob], on_done: OnDone) -> list[ShardFailure]:
        start = time.perf_counter()
        context_ref = ray.put(context)
        self.timings.broadcast_s = time.perf_counter() - start
        count, resources = self._actor_options(ray)
        threads = resources.get("num_cpus", self.threads) if "num_gpus" in resources else self.threads
        actor_class = ray.remote(ShardActor).options(max_restarts=0, **resources)
        start = time.perf_counter()
        idle = [actor_class.remote(task, context_ref, threads, os.getcwd()) for _ in range(min(count, len(jobs)))]
        ray.get([actor.ready.remote() for actor in idle])
        self.timings.actors_s = time.perf_counter() - start
        actors, start = len(idle), time.perf_counter()
        try:
            return self._drain(ray, task, context_ref, threads, actor_class, idle, jobs, on_done)
        finally:
            self.timings.shards_s = time.perf_counter() - start
            t = self.timings
            where = "a local cluster started for this run" if t.started_cluster else "the existing Ray cluster"
            tqdm.write(f"ray: {actors} actor(s) ({resources}) on {where}; Ray's own time: connect {t.connect_s:.1f} s, "
                       f"broadcast {t.broadcast_s:.2f} s, actor start {t.actors_s:.1f} s; shards {t.shards_s:.1f} s")

    def _drain(self, ray: Any, task: ShardTask, context_ref: Any, threads: int, actor_class: Any, idle: list,
               jobs: list[ShardJob], on_done: OnDone) -> list[ShardFailure]:
        """Keep every actor busy until each job finished or failed on every attempt."""
        queue = deque((job, 1) for job in jobs)
        in_flight: dict[Any, tuple[Any, ShardJob, int]] = {}
        failures: list[ShardFailure] = []
        while queue or in_flight:
            while queue and idle:
                job, attempt = queue.popleft()
                actor = idle.pop()
                in_flight[actor.run.remote(job.payload)] = (actor, job, attempt)
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            actor, job, attempt = in_flight.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayTaskError as error:
                cause = getattr(error, "cause", None)
                if isinstance(cause, INPUT_ERRORS):
                    raise cause from None
                problem = describe(cause) if cause is not None else describe(error)
            except ray.exceptions.RayError as error:  # the actor died (killed, out of memory, node lost)
                problem = describe(error)
                actor = actor_class.remote(task, context_ref, threads, os.getcwd())
            else:
                idle.append(actor)
                on_done(job.name, result)
                continue
            idle.append(actor)
            tqdm.write(f"warning: shard '{job.name}' failed (attempt {attempt} of {self.retries + 1}): {problem}")
            if attempt > self.retries:
                failures.append(ShardFailure(job.name, attempt, problem))
            else:
                queue.append((job, attempt + 1))
        for actor in idle:
            ray.kill(actor)
        return failures
