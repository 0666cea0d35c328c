"""torchrun support shared by the trainers: process-group setup and teardown, rank queries, collectives with gradient."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Tuple

import torch
import torch.distributed as dist

INIT_METHOD_VARIABLE = "CLIP_CORE_INIT_METHOD"  # e.g. file:///tmp/x in tests; default env:// (torchrun)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: rank, world size, local rank and the device it trains on."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the only rank that writes files)."""
        return self.rank == 0


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def world() -> Tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if _initialised():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from error


def _join(device: str) -> DistInfo:
    """Join the torchrun group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA) or reuse an initialised one."""
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1 and not _initialised():
        return DistInfo(device=device)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not _initialised():
        if not dist.is_available():
            raise RuntimeError(f"WORLD_SIZE={world_size} but this torch build has no torch.distributed")
        dist.init_process_group("nccl" if cuda else "gloo", init_method=os.environ.get(INIT_METHOD_VARIABLE, "env://"),
                                rank=rank, world_size=world_size)
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, device=device)


@contextmanager
def distributed_session(device: str = "cpu") -> Iterator[DistInfo]:
    """Join the run's process group for the duration of the block; a group this call created is destroyed after it."""
    created = not _initialised()
    info = _join(device)
    try:
        yield info
    finally:
        if created and _initialised():
            dist.destroy_process_group()


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0; each rank's slice gets the sum of all ranks' gradients for it."""
    _, size = world()
    if size == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()), dim=0)


def average_gradients(module: torch.nn.Module) -> None:
    """All-reduce-mean the gradients of `module` across ranks (what DDP does); no-op in one process."""
    _, size = world()
    if size == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(size)


def mean_across_ranks(value: float) -> float:
    """Average a Python float over all ranks (identity in one process)."""
    _, size = world()
    if size == 1:
        return value
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / size
