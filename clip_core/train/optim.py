"""CLIP's optimizer settings (AdamW, the paper's ViT betas and eps, via the toolkit) and the logit-scale clamp."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .toolkit import build_adamw

MAX_LOGIT_SCALE = math.log(100.0)


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: Sequence[float] = (0.9, 0.98),
                    eps: float = 1e-6) -> torch.optim.AdamW:
    """AdamW over the toolkit's parameter groups with the paper's ViT betas and eps."""
    return build_adamw(model, lr, weight_decay, betas, eps)


def clamp_logit_scale(model: nn.Module, max_value: float = MAX_LOGIT_SCALE) -> None:
    """Clamp the learned log logit scale to [0, ln 100] in place."""
    with torch.no_grad():
        model.logit_scale.clamp_(0.0, max_value)
