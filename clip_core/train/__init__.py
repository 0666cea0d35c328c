"""CLIP training: symmetric InfoNCE loss, AdamW parameter groups and schedule, the trainer loop.

- ``clip_loss(image_features, text_features, logit_scale)`` and ``gather_features`` (``loss``)
- ``param_groups``, ``build_optimizer``, ``lr_at``, ``clamp_logit_scale`` (``optim``)
- ``TrainConfig``, ``train`` (``trainer``)
"""
from __future__ import annotations

from .loss import clip_loss, gather_features
from .optim import build_optimizer, clamp_logit_scale, lr_at, param_groups
from .trainer import TrainConfig, train

__all__ = ["TrainConfig", "build_optimizer", "clamp_logit_scale", "clip_loss", "gather_features",
           "lr_at", "param_groups", "train"]
