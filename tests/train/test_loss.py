"""The symmetric InfoNCE loss against a hand computation."""
from __future__ import annotations

import math

import pytest
import torch

from clip_core.train import clip_loss


def test_loss_matches_hand_computation():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    scale = torch.tensor(math.log(2.0))
    # logits_per_image = 2 * img @ txt.T = [[2, 1.2], [0, 1.6]]; logits_per_text is its transpose
    lse = lambda *xs: math.log(sum(math.exp(x) for x in xs))  # noqa: E731
    image_to_text = ((-2 + lse(2, 1.2)) + (-1.6 + lse(0, 1.6))) / 2
    text_to_image = ((-2 + lse(2, 0)) + (-1.6 + lse(1.2, 1.6))) / 2
    expected = (image_to_text + text_to_image) / 2
    assert clip_loss(img, txt, scale).item() == pytest.approx(expected, abs=1e-6)


def test_loss_is_low_for_matched_pairs_and_high_for_swapped():
    feats = torch.eye(4)
    scale = torch.tensor(math.log(100.0))
    assert clip_loss(feats, feats, scale).item() < 1e-3
    assert clip_loss(feats, feats.flip(0), scale).item() > 10


def test_loss_gradient_reaches_logit_scale():
    img = torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)
    scale = torch.tensor(1.0, requires_grad=True)
    clip_loss(img, txt, scale).backward()
    assert scale.grad is not None and scale.grad.abs().item() > 0


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="features"):
        clip_loss(torch.zeros(3, 2), torch.zeros(4, 2), torch.tensor(0.0))
