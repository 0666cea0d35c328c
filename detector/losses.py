"""Training losses: InfoNCE over augmented pairs (fixed temperature) and SSCD's entropy regulariser."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clip_core.train.toolkit import all_gather_with_grad, world


@dataclass(frozen=True)
class LossConfig:
    """InfoNCE temperature (paper 0.07, SSCD 0.05), entropy weight (0 = off, SSCD 30) and view mode."""

    temperature: float = 0.07
    entropy_weight: float = 0.0
    all_views: bool = False

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"LossConfig.temperature must be positive, got {self.temperature}")
        if self.entropy_weight < 0:
            raise ValueError(f"LossConfig.entropy_weight must be >= 0, got {self.entropy_weight}")


@dataclass
class LossOutput:
    """Total loss, its parts, and the health metrics of the batch (similarities, detached)."""

    loss: torch.Tensor
    info_nce: torch.Tensor
    entropy: torch.Tensor
    positive_similarity: float
    negative_similarity: float
    nearest_negative_similarity: float


def _check_pair(z1: torch.Tensor, z2: torch.Tensor) -> None:
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"views must be two (N, D) tensors of equal shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("InfoNCE needs at least 2 images per batch (the others are the negatives)")


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.07, all_views: bool = False) -> torch.Tensor:
    """InfoNCE on L2-normalised views: image i's positive is its other view, the negatives the rest of the (global) batch.

    `all_views=False` is CLIP's symmetric loss (z1 rows against all z2, and back); `all_views=True`
    is SimCLR/SSCD's NT-Xent, where every one of the 2N views but the row itself is a candidate.
    """
    _check_pair(z1, z2)
    rank, _ = world()
    n = z1.shape[0]
    g1, g2 = all_gather_with_grad(z1), all_gather_with_grad(z2)
    labels = torch.arange(n, device=z1.device) + rank * n
    if not all_views:
        return 0.5 * (F.cross_entropy(z1 @ g2.T / temperature, labels) + F.cross_entropy(z2 @ g1.T / temperature, labels))
    total = g1.shape[0]
    g = torch.cat([g1, g2])
    local = torch.cat([z1, z2])
    logits = local @ g.T / temperature
    self_index = torch.cat([labels, labels + total])
    partner = torch.cat([labels + total, labels])
    logits = logits.masked_fill(F.one_hot(self_index, 2 * total).bool(), float("-inf"))
    return F.cross_entropy(logits, partner)


def _nearest_negative(z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per local view: similarity to, and index mask of, the nearest view of a different image."""
    rank, _ = world()
    n = z1.shape[0]
    g1, g2 = all_gather_with_grad(z1), all_gather_with_grad(z2)
    total = g1.shape[0]
    local = torch.cat([z1, z2])
    sims = local @ torch.cat([g1, g2]).T
    image = torch.arange(2 * n, device=z1.device) % n + rank * n
    col_image = torch.arange(2 * total, device=z1.device) % total
    same = image[:, None] == col_image[None, :]
    return sims.masked_fill(same, float("-inf")).max(dim=1).values, same


def entropy_regulariser(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Kozachenko-Leonenko entropy term of SSCD: -mean(log d_nn), d_nn the distance to the nearest other image's view."""
    _check_pair(z1, z2)
    nn_sim, _ = _nearest_negative(z1, z2)
    d_nn = torch.sqrt(torch.clamp(2.0 - 2.0 * nn_sim, min=0.0) + eps)
    return -torch.log(d_nn + eps).mean()


def detector_loss(z1: torch.Tensor, z2: torch.Tensor, config: LossConfig = LossConfig()) -> LossOutput:
    """InfoNCE plus `entropy_weight` x entropy regulariser, with batch health metrics."""
    nce = info_nce(z1, z2, config.temperature, config.all_views)
    ent = entropy_regulariser(z1, z2) if config.entropy_weight > 0 else torch.zeros((), device=z1.device)
    with torch.no_grad():
        pos = (z1 * z2).sum(dim=1).mean().item()
        sims = z1 @ z2.T
        n = z1.shape[0]
        off = ~torch.eye(n, dtype=torch.bool, device=z1.device)
        neg = sims[off].mean().item()
        nn_sim, _ = _nearest_negative(z1.detach(), z2.detach())
    return LossOutput(nce + config.entropy_weight * ent, nce.detach(), ent.detach(), pos, neg, nn_sim.mean().item())
