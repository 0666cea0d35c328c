"""Feature-caching gradient accumulation equals one big batch; resume continues bit-identically."""
from __future__ import annotations

import copy

import pytest
import torch

from clip_core.train import TrainConfig, clip_loss, train
from clip_core.train.trainer import accumulate_gradients, build_model, read_resume_checkpoint


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("accum", [2, 4])
def test_accumulation_matches_big_batch(tiny_batch, accum):
    images, texts = tiny_batch
    big = build_model(TrainConfig(model="tiny", seed=3))
    small = copy.deepcopy(big)
    loss_big = accumulate_gradients(big, images, texts, 1)
    loss_small = accumulate_gradients(small, images, texts, accum)
    assert loss_small == pytest.approx(loss_big, rel=1e-5)
    g_big, g_small = _grads(big), _grads(small)
    assert g_big.keys() == g_small.keys() and "logit_scale" in g_big
    for name in g_big:
        torch.testing.assert_close(g_small[name], g_big[name], rtol=1e-4, atol=1e-6, msg=name)


def test_naive_accumulation_would_differ(tiny_batch):
    """Sanity: per-micro-batch losses (no cached negatives) do NOT give the big-batch gradient."""
    images, texts = tiny_batch
    big = build_model(TrainConfig(model="tiny", seed=3))
    naive = copy.deepcopy(big)
    accumulate_gradients(big, images, texts, 1)
    for a in range(0, 8, 2):
        (clip_loss(
            naive.encode_image(images[a:a + 2], normalize=True),
            naive.encode_text(texts[a:a + 2], normalize=True), naive.logit_scale) / 4).backward()
    diff = (naive.logit_scale.grad - big.logit_scale.grad).abs().item()
    assert diff > 1e-4


def test_accumulation_rejects_indivisible_batch():
    with pytest.raises(ValueError, match="accum_steps"):
        TrainConfig(batch_size=6, accum_steps=4).validate()


def test_resume_is_bit_identical(tmp_path):
    base = dict(steps=4, batch_size=4, accum_steps=2, lr=1e-3, warmup_fraction=0.25, progress=False)
    full = train(TrainConfig(out=str(tmp_path / "full"), **base))
    part = train(TrainConfig(out=str(tmp_path / "part"), **base), stop_after=2)
    ckpt = tmp_path / "part" / "checkpoint.pt"
    state = read_resume_checkpoint(str(ckpt), TrainConfig(out=str(tmp_path / "part"), **base))
    assert {"epoch", "step", "name", "config", "state_dict", "optimizer"} <= set(state)
    assert state["step"] == 2 and state["config"]["batch_size"] == 4
    assert "clip_core" in state  # tokenizer and activation through clip_core's format
    rest = train(TrainConfig(out=str(tmp_path / "part"), **base), resume=str(ckpt))
    assert part.losses + rest.losses == full.losses
    a, b = full.model.state_dict(), rest.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_grad_checkpointing_gives_same_gradients(tiny_batch):
    images, texts = tiny_batch
    plain = build_model(TrainConfig(model="tiny", seed=5))
    ckpt = copy.deepcopy(plain)
    ckpt.set_grad_checkpointing(True)
    accumulate_gradients(plain, images, texts, 1)
    accumulate_gradients(ckpt, images, texts, 1)
    for name, g in _grads(plain).items():
        torch.testing.assert_close(_grads(ckpt)[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_resume_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        train(TrainConfig(steps=1, batch_size=2, progress=False), resume=str(tmp_path / "nope.pt"))
