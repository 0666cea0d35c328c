"""Two gloo processes on halves of a global batch reproduce the one-process loss and gradients."""
from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from clip_core.train import TrainConfig, clip_loss, train
from clip_core.train.toolkit import average_gradients
from clip_core.train.trainer import build_model

WORLD = 2


def _global_batch():
    model = build_model(TrainConfig(model="tiny", seed=0))
    g = torch.Generator().manual_seed(3)
    images = torch.randn(8, 3, 64, 64, generator=g)
    texts = model.tokenize([f"{n} small {c} squares" for n, c in zip(range(8), "rgbcmykw")])
    return model, images, texts


def _loss_and_grads(model, images, texts):
    img = model.encode_image(images, normalize=True)
    txt = model.encode_text(texts, normalize=True)
    loss = clip_loss(img, txt, model.logit_scale)
    loss.backward()
    return loss.detach()


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        model, images, texts = _global_batch()
        n = images.shape[0] // WORLD
        part = slice(rank * n, (rank + 1) * n)
        loss = _loss_and_grads(model, images[part], texts[part])
        average_gradients(model)
        dist.all_reduce(loss)
        loss /= WORLD
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        torch.save({"loss": loss, "grads": grads}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_processes_match_one(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    model, images, texts = _global_batch()
    loss = _loss_and_grads(model, images, texts)
    ref = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert torch.allclose(got["loss"], loss, atol=1e-6), (got["loss"], loss)
        assert torch.allclose(got["grads"]["logit_scale"], ref["logit_scale"], rtol=1e-4, atol=1e-7)
        assert set(got["grads"]) == set(ref)
        for name, g in ref.items():
            assert torch.allclose(got["grads"][name], g, rtol=1e-3, atol=1e-6), name


def _train_worker(rank: int, init_file: str, out_dir: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(WORLD), "LOCAL_RANK": str(rank),
                       "CLIP_CORE_INIT_METHOD": f"file://{init_file}"})
    torch.set_num_threads(1)
    cfg = TrainConfig(steps=2, batch_size=8, augment=False, progress=False, out=out_dir, seed=0)
    result = train(cfg)
    torch.save({"losses": result.losses, "state": result.model.state_dict()},
               os.path.join(out_dir, f"train{rank}.pt"))


@pytest.mark.slow
def test_trainer_two_processes_match_one(tmp_path):
    dist_dir = tmp_path / "dist"
    dist_dir.mkdir()
    mp.spawn(_train_worker, args=(str(tmp_path / "init"), str(dist_dir)), nprocs=WORLD, join=True)
    torch.set_num_threads(1)
    single = train(TrainConfig(steps=2, batch_size=8, augment=False, progress=False, seed=0,
                               out=str(tmp_path / "single")))
    lines = (dist_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # only rank 0 writes
    assert (dist_dir / "checkpoint.pt").is_file()
    for rank in range(WORLD):
        got = torch.load(dist_dir / f"train{rank}.pt", weights_only=True)
        assert got["losses"] == pytest.approx(single.losses, abs=1e-5)
        for name, value in single.model.state_dict().items():
            assert torch.allclose(got["state"][name], value, atol=1e-5), name
