"""torchrun support: read RANK / WORLD_SIZE / LOCAL_RANK, initialise the process group once, average scalars."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from error


def setup_distributed(device: str = "cpu") -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA); else a one-process DistInfo.

    The init method is ``env://`` (torchrun's MASTER_ADDR/PORT) unless CLIP_CORE_INIT_METHOD names another
    (e.g. ``file:///tmp/x`` in tests). An already initialised group is reused.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistInfo(device=device)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        backend = "nccl" if cuda else "gloo"
        dist.init_process_group(backend, init_method=os.environ.get("CLIP_CORE_INIT_METHOD", "env://"),
                                rank=rank, world_size=world)
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, device=device)


def mean_across_ranks(value: float) -> float:
    """Average a Python float over all ranks (identity in one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()
