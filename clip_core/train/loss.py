"""Symmetric InfoNCE (CLIP) loss, with the open_clip "local loss + gather with grad" for multi-process runs."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .toolkit import all_gather_with_grad, world


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor,
              logit_scale: torch.Tensor) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy over scaled cosine logits.

    Features must already be L2-normalised; ``logit_scale`` is the *log* scale (the model parameter).
    In a distributed run each rank scores its local batch against the global one (gathered with gradient;
    averaging the parameter gradients over ranks then gives the single-process gradient of the mean loss);
    the ground-truth column of local row i is ``rank * N + i``.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(
            f"image and text features must both be [N, D], got {tuple(image_features.shape)} "
            f"and {tuple(text_features.shape)}")
    rank, _ = world()
    scale = logit_scale.exp()
    all_img = all_gather_with_grad(image_features)
    all_txt = all_gather_with_grad(text_features)
    logits_per_image = scale * image_features.float() @ all_txt.float().t()
    logits_per_text = scale * text_features.float() @ all_img.float().t()
    n = image_features.shape[0]
    labels = torch.arange(n, device=image_features.device) + rank * n
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
