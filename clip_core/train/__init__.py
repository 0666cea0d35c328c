"""CLIP training: symmetric InfoNCE loss, the CLIP optimizer settings, the trainer loop.

- ``clip_loss(image_features, text_features, logit_scale)`` (``loss``)
- ``build_optimizer``, ``clamp_logit_scale`` (``optim``); ``param_groups``, ``lr_at`` and the rest of the
  training toolkit shared with the detector trainer live in ``toolkit``
- ``TrainConfig``, ``train`` (``trainer``)
"""
from __future__ import annotations

from .loss import clip_loss
from .optim import build_optimizer, clamp_logit_scale
from .toolkit import lr_at, param_groups
from .trainer import TrainConfig, train

__all__ = ["TrainConfig", "build_optimizer", "clamp_logit_scale", "clip_loss", "lr_at", "param_groups", "train"]
