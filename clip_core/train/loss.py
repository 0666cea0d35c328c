"""Symmetric InfoNCE (CLIP) loss, with the open_clip "local loss + gather with grad" for multi-process runs."""
from __future__ import annotations

from typing import Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F


def _distributed() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient of the gathered tensor and keeps the local slice."""

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, world = _distributed()
        ctx.rank, ctx.n = rank, features.shape[0]
        parts = [torch.empty_like(features) for _ in range(world)]
        dist.all_gather(parts, features.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # works on gloo, unlike reduce_scatter
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """All-gather [N, D] features from every rank into [world*N, D], with gradient flowing back to every rank.

    Each rank's local loss scores its rows against everybody's features; the backward pass returns to
    each rank the sum of all ranks' gradients for its features, so averaging the parameter gradients
    over ranks (DDP, or ``average_gradients``) gives exactly the single-process gradient of the mean loss.
    """
    _, world = _distributed()
    if world == 1:
        return features
    return _GatherWithGrad.apply(features)


def average_gradients(module: torch.nn.Module) -> None:
    """All-reduce-mean the gradients of `module` across ranks (what DDP does); no-op in one process."""
    _, world = _distributed()
    if world == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world)


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor,
              logit_scale: torch.Tensor) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy over scaled cosine logits.

    Features must already be L2-normalised; ``logit_scale`` is the *log* scale (the model parameter).
    In a distributed run each rank scores its local batch against the global one; the ground-truth
    column of local row i is ``rank * N + i``.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(
            f"image and text features must both be [N, D], got {tuple(image_features.shape)} "
            f"and {tuple(text_features.shape)}")
    rank, world = _distributed()
    scale = logit_scale.exp()
    all_img = gather_features(image_features)
    all_txt = gather_features(text_features)
    logits_per_image = scale * image_features.float() @ all_txt.float().t()
    logits_per_text = scale * text_features.float() @ all_img.float().t()
    n = image_features.shape[0]
    labels = torch.arange(n, device=image_features.device) + rank * n
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
