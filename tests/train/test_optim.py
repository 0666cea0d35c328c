"""Parameter groups, learning-rate schedule and the logit-scale clamp."""
from __future__ import annotations

import math

import pytest
import torch

from clip_core.train import TrainConfig, build_optimizer, clamp_logit_scale, lr_at, param_groups, train
from clip_core.train.trainer import build_model


@pytest.fixture(scope="module")
def model():
    return build_model(TrainConfig(model="tiny"))


def test_no_decay_on_gains_biases_and_logit_scale(model):
    exempt, decay = param_groups(model, 0.2)
    assert exempt["weight_decay"] == 0.0 and decay["weight_decay"] == 0.2
    ids = {id(p) for p in exempt["params"]}
    names = dict(model.named_parameters())
    assert id(names["logit_scale"]) in ids
    assert id(names["ln_final.weight"]) in ids and id(names["ln_final.bias"]) in ids
    assert id(names["positional_embedding"]) not in ids  # rank 2: decayed
    assert all(p.ndim >= 2 for p in decay["params"])
    assert not any(n for n, p in names.items() if "bias" in n and id(p) not in ids)
    assert len(exempt["params"]) + len(decay["params"]) == len(list(model.parameters()))


def test_warmup_then_cosine():
    assert lr_at(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert lr_at(10, 1.0, 10, 100) == pytest.approx(1.0)
    assert lr_at(55, 1.0, 10, 100) == pytest.approx(0.5)
    assert lr_at(100, 1.0, 10, 100) == pytest.approx(0.0, abs=1e-12)
    values = [lr_at(s, 1.0, 10, 100) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_clamp_bounds(model):
    with torch.no_grad():
        model.logit_scale.fill_(7.0)
    clamp_logit_scale(model)
    assert model.logit_scale.item() == pytest.approx(math.log(100))
    with torch.no_grad():
        model.logit_scale.fill_(-3.0)
    clamp_logit_scale(model)
    assert model.logit_scale.item() == 0.0
    with torch.no_grad():
        model.logit_scale.fill_(2.0)
    clamp_logit_scale(model)
    assert model.logit_scale.item() == 2.0


def test_trainer_clamps_after_every_step():
    # lr 10 moves every parameter by ~10 per Adam step: the scale lands outside [0, ln 100] unless clamped
    cfg = TrainConfig(steps=2, batch_size=4, lr=10.0, warmup_fraction=0.0, progress=False)
    result = train(cfg)
    value = result.model.logit_scale.item()
    assert 0.0 <= value <= math.log(100) + 1e-6
    assert value in (0.0, pytest.approx(math.log(100)))


def test_optimizer_betas_and_eps(model):
    opt = build_optimizer(model, 1e-3, 0.2)
    assert opt.defaults["betas"] == (0.9, 0.98) and opt.defaults["eps"] == 1e-6


def test_bf16_autocast_step_runs_and_stays_finite():
    result = train(TrainConfig(steps=1, batch_size=4, precision="bf16", progress=False))
    assert len(result.losses) == 1 and math.isfinite(result.losses[0])
    assert result.model.logit_scale.dtype == torch.float32  # master weights stay fp32


def test_bad_precision_rejected():
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8").validate()
