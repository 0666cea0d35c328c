"""Shared fixtures for the trainer tests: one tiny model config and a fixed random batch."""
from __future__ import annotations

import pytest
import torch

from clip_core.train import TrainConfig


@pytest.fixture(scope="session")
def tiny_batch():
    """Eight random 64x64 images and token ids of eight distinct captions (tiny preset sizes)."""
    from clip_core.train.trainer import build_model
    model = build_model(TrainConfig(model="tiny", seed=0))
    g = torch.Generator().manual_seed(1)
    images = torch.randn(8, 3, 64, 64, generator=g)
    texts = model.tokenize([f"a photo of {n} red circles" for n in range(8)])
    return images, texts
