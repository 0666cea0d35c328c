"""The shared training toolkit: schedule edge cases, parameter groups, checked optimizer resume, metric logs, saving."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from clip_core.train import TrainConfig, train
from clip_core.train.toolkit import (build_adamw, load_optimizer_state, lr_at, param_groups, save_training_state,
                                     truncate_metrics)


def test_schedule_without_a_known_total_stays_at_base_after_warmup():
    assert lr_at(0, 2.0, 4, None) == pytest.approx(0.5)
    assert lr_at(100, 2.0, 4, None) == 2.0
    assert lr_at(5, 2.0, 4, 3) == 2.0  # total within the warm-up: no decay phase
    assert lr_at(7, 1.0, 0, 10, min_lr=0.2) == pytest.approx(0.2 + 0.4 * (1 + math.cos(math.pi * 0.7)))
    with pytest.raises(ValueError, match="total_steps"):
        lr_at(0, 1.0, 0, 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(0, 1.0, -1, 10)


def test_weight_norm_gains_and_biases_are_not_decayed():
    net = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3)), nn.Embedding(5, 2), nn.LayerNorm(4))
    exempt, decay = param_groups(net, 0.1)
    assert exempt["param_names"] == ["0.bias", "0.parametrizations.weight.original0", "2.weight", "2.bias"]
    assert decay["param_names"] == ["0.parametrizations.weight.original1", "1.weight"]
    assert [p.shape for p in exempt["params"]][1] == (4, 1, 1, 1)  # rank 4, but a gain
    assert decay["weight_decay"] == 0.1 and exempt["weight_decay"] == 0.0


def test_optimizer_state_of_another_model_is_refused():
    a, b = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 3))
    saved = build_adamw(a, 1e-3, 0.1).state_dict()
    load_optimizer_state(build_adamw(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), 1e-3, 0.1), saved, "ok.pt")
    renamed = nn.Sequential()
    renamed.add_module("first", nn.Linear(2, 2))
    renamed.add_module("second", nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"x.pt: optimizer parameter group 0 .*'0.bias'.*'first.bias'"):
        load_optimizer_state(build_adamw(renamed, 1e-3, 0.1), saved, "x.pt")
    with pytest.raises(ValueError, match="y.pt: the optimizer state does not fit"):
        saved_b = build_adamw(b, 1e-3, 0.1).state_dict()
        del saved_b["param_groups"][1]["param_names"]
        saved_b["param_groups"][1]["params"] = saved_b["param_groups"][1]["params"][:1]
        load_optimizer_state(build_adamw(b, 1e-3, 0.1), saved_b, "y.pt")


def test_truncate_metrics_drops_later_and_torn_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3, 4)) + '{"step": 5, "lo')
    truncate_metrics(path, 2)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="metrics.jsonl: line 2"):
        truncate_metrics(path, 5)


def test_save_refuses_what_weights_only_cannot_read(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint field checkpoint.extra is a PosixPath"):
        save_training_state(tmp_path / "c.pt", {"extra": tmp_path})
    assert not (tmp_path / "c.pt").exists()
    save_training_state(tmp_path / "c.pt", {"w": torch.ones(2), "meta": {"betas": (0.9, 0.98), "x": None}})
    assert torch.load(tmp_path / "c.pt", weights_only=True)["meta"]["betas"] == (0.9, 0.98)


def test_resume_with_other_settings_names_the_fields(tmp_path):
    base = dict(steps=2, batch_size=4, progress=False, out=str(tmp_path / "run"))
    train(TrainConfig(**base), stop_after=1)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(ValueError, match=r"other training settings: lr \(checkpoint 0.001, this run 0.002\)"):
        train(TrainConfig(**dict(base, lr=2e-3)), resume=str(ckpt))
    rest = train(TrainConfig(**dict(base, log_every=5)), resume=str(ckpt))  # log_every does not change the run
    assert rest.step == 2 and len(rest.losses) == 1
