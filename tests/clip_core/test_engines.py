"""The local engine's retry rules and the engine options (the Ray engine: tests/audit/test_ray_engine.py)."""
from __future__ import annotations

import pytest

from clip_core.engines import EngineOptions, LocalEngine, ShardJob, ShardsFailed, build_engine


def flaky_task(context: dict, payload: str) -> str:
    """Fails while the payload's budget of failures lasts."""
    context["calls"].append(payload)
    if context["failures"].get(payload, 0) > 0:
        context["failures"][payload] -= 1
        raise RuntimeError(f"{payload} broke")
    if payload == "bad input":
        raise ValueError("wrong column 'x' in shard.csv")
    return payload.upper()


def test_failed_shards_are_retried_then_reported_and_the_others_finish() -> None:
    context = {"calls": [], "failures": {"a": 1, "b": 5}}
    done: dict[str, str] = {}
    failures = LocalEngine(retries=2).run(flaky_task, context, [ShardJob(n, n) for n in "abc"], done.__setitem__)
    assert done == {"a": "A", "c": "C"}
    assert [(f.name, f.attempts) for f in failures] == [("b", 3)]
    assert failures[0].error == "RuntimeError: b broke"
    assert context["calls"] == ["a", "a", "b", "b", "b", "c"]
    error = ShardsFailed(failures, "out/shards")
    assert "1 shard(s) failed" in str(error) and "b broke" in str(error) and "rerun" in str(error)


def test_no_retries_and_input_errors_are_raised_at_once() -> None:
    context = {"calls": [], "failures": {"a": 1}}
    failures = LocalEngine(retries=0).run(flaky_task, context, [ShardJob("a", "a")], lambda name, result: None)
    assert [f.attempts for f in failures] == [1]
    context = {"calls": [], "failures": {}}
    with pytest.raises(ValueError, match="wrong column"):
        LocalEngine().run(flaky_task, context, [ShardJob("x", "bad input"), ShardJob("y", "y")], lambda n, r: None)
    assert context["calls"] == ["bad input"]


def test_engine_options_are_validated() -> None:
    assert isinstance(build_engine(EngineOptions()), LocalEngine)
    assert build_engine(EngineOptions(engine="ray", ray_workers=2)).name == "ray"
    for bad, message in [({"engine": "spark"}, "--engine"), ({"retries": -1}, "--shard-retries"),
                         ({"engine": "ray", "ray_workers": 0}, "--ray-workers"),
                         ({"ray_address": "auto"}, "need --engine ray")]:
        with pytest.raises(ValueError, match=message):
            EngineOptions(**bad)
    with pytest.raises(ValueError, match="retries"):
        LocalEngine(retries=-1)


class FakeCluster:
    """Stands in for `ray` where only `cluster_resources` is read."""

    def __init__(self, resources: dict) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict:
        return self.resources


def test_ray_actors_fit_the_cluster() -> None:
    from clip_core.engines.ray_engine import RayEngine

    assert RayEngine()._actor_options(FakeCluster({"CPU": 8.0})) == (8, {"num_cpus": 1})
    assert RayEngine(threads=2)._actor_options(FakeCluster({"CPU": 8.0})) == (4, {"num_cpus": 2})
    assert RayEngine()._actor_options(FakeCluster({"CPU": 16.0, "GPU": 2.0})) == (2, {"num_gpus": 1.0, "num_cpus": 8})
    # two actors asked for on one GPU share it instead of one waiting forever
    assert RayEngine(workers=2)._actor_options(FakeCluster({"CPU": 16.0, "GPU": 1.0})) == (2, {"num_gpus": 0.5, "num_cpus": 8})
