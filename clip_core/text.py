"""Causal text transformer helpers (the text tower's weights live on `CLIP` itself, as in OpenAI's code)."""
from __future__ import annotations

import torch


def eot_positions(text: torch.Tensor) -> torch.Tensor:
    """End-of-text position of each row: the arg-max token id (EOT has the largest id)."""
    if text.dim() != 2:
        raise ValueError(f"token ids must be a 2-D [batch, context] tensor, got shape {tuple(text.shape)}")
    return text.argmax(dim=-1)


def trim_to_last_eot(text: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
    """Drop columns after the last EOT in the batch; with a causal mask they cannot change any EOT feature."""
    if text.shape[0] == 0:
        return text
    return text[:, : int(eot.max().item()) + 1]
