"""AdamW parameter groups (no decay on gains, biases, rank<2 tensors, logit_scale), warm-up + cosine, scale clamp."""
from __future__ import annotations

import math
from typing import Any, Dict, List

import torch
from torch import nn

MAX_LOGIT_SCALE = math.log(100.0)


def param_groups(model: nn.Module, weight_decay: float) -> List[Dict[str, Any]]:
    """Two AdamW groups: decayed weights and the exempt parameters (gains, biases, rank < 2, logit_scale)."""
    exempt_names = set(model.no_weight_decay_names()) if hasattr(model, "no_weight_decay_names") else set()
    decay, exempt = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name in exempt_names or p.ndim < 2 or "bias" in name or "logit_scale" in name:
            exempt.append(p)
        else:
            decay.append(p)
    return [{"params": exempt, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.98),
                    eps: float = 1e-6) -> torch.optim.AdamW:
    """AdamW over `param_groups` with the paper's ViT betas and eps."""
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=tuple(betas), eps=eps)


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Learning rate at `step` (0-based): linear warm-up to `base_lr`, then cosine decay to `min_lr`."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))


def clamp_logit_scale(model: nn.Module, max_value: float = MAX_LOGIT_SCALE) -> None:
    """Clamp the learned log logit scale to [0, ln 100] in place."""
    with torch.no_grad():
        model.logit_scale.clamp_(0.0, max_value)
