"""Two gloo processes on CPU: gathered InfoNCE equals the single-process loss over the whole batch."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from detector.losses import entropy_regulariser, info_nce


def _data():
    g = torch.Generator().manual_seed(0)
    return F.normalize(torch.randn(4, 6, generator=g), dim=1), F.normalize(torch.randn(4, 6, generator=g), dim=1)


def _worker(rank: int, init_file: str, results) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        z1, z2 = _data()
        a = z1[2 * rank: 2 * rank + 2].clone().requires_grad_(True)
        b = z2[2 * rank: 2 * rank + 2].clone().requires_grad_(True)
        loss = info_nce(a, b, 0.1)
        loss.backward()
        nt = info_nce(a.detach(), b.detach(), 0.1, all_views=True)
        ent = entropy_regulariser(a.detach(), b.detach())
        results[rank] = (loss.item(), a.grad.clone(), nt.item(), ent.item())
    finally:
        dist.destroy_process_group()


def test_all_gather_loss_and_gradients_match_one_process(tmp_path):
    manager = mp.Manager()
    results = manager.dict()
    # fork: the workers need not import this test module by name (pytest may load it under another name)
    mp.start_processes(_worker, args=(str(tmp_path / "init"), results), nprocs=2, join=True, start_method="fork")
    z1, z2 = _data()
    a = z1.clone().requires_grad_(True)
    full = info_nce(a, z2, 0.1)
    full.backward()
    losses = [results[r][0] for r in range(2)]
    assert abs(sum(losses) / 2 - full.item()) < 1e-5
    for r in range(2):
        # each rank's gradient covers every rank's loss term; averaging over ranks gives the full-batch gradient
        assert torch.allclose(results[r][1] / 2, a.grad[2 * r: 2 * r + 2], atol=1e-6)
    assert abs(sum(results[r][2] for r in range(2)) / 2 - info_nce(z1, z2, 0.1, all_views=True).item()) < 1e-5
    assert abs(sum(results[r][3] for r in range(2)) / 2 - entropy_regulariser(z1, z2).item()) < 1e-5
