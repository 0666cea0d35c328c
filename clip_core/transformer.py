"""Transformer building blocks in OpenAI CLIP naming: fp32 LayerNorm, QuickGELU, residual attention blocks."""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import check_activation


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 and cast back to the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the last dimension in fp32."""
        orig = x.dtype
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(orig)


class QuickGELU(nn.Module):
    """OpenAI's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply x * sigmoid(1.702 x)."""
        return x * torch.sigmoid(1.702 * x)


def make_activation(name: str) -> nn.Module:
    """Module for 'gelu' (exact erf GELU) or 'quick_gelu'."""
    return QuickGELU() if check_activation(name) == "quick_gelu" else nn.GELU()


class MultiheadSelfAttention(nn.Module):
    """Self-attention with packed q/k/v weights (`in_proj_weight`, `out_proj`) computed with SDPA."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, causal: bool = False, last_query_only: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend over x [N, L, D]; with `last_query_only` (index per row) only that query is computed."""
        n, length, d = x.shape
        h = self.heads
        if last_query_only is None:
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
            q = q.view(n, length, h, -1).transpose(1, 2)
            k = k.view(n, length, h, -1).transpose(1, 2)
            v = v.view(n, length, h, -1).transpose(1, 2)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal and length > 1)
            return self.out_proj(out.transpose(1, 2).reshape(n, length, d))
        # Only one query per row is needed (the pooled token of the final block).
        wq, wkv = self.in_proj_weight.split([d, 2 * d])
        bq, bkv = self.in_proj_bias.split([d, 2 * d])
        rows = torch.arange(n, device=x.device)
        xq = x[rows, last_query_only].unsqueeze(1)
        q = F.linear(xq, wq, bq).view(n, 1, h, -1).transpose(1, 2)
        k, v = F.linear(x, wkv, bkv).chunk(2, dim=-1)
        k = k.view(n, length, h, -1).transpose(1, 2)
        v = v.view(n, length, h, -1).transpose(1, 2)
        mask = None
        if causal:
            pos = torch.arange(length, device=x.device)
            mask = (pos[None, :] <= last_query_only[:, None]).view(n, 1, 1, length)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(n, 1, d))


class ResidualAttentionBlock(nn.Module):
    """Pre-LayerNorm block: x + attn(ln_1(x)); x + mlp(ln_2(x)) with mlp = c_fc, activation, c_proj."""

    def __init__(self, width: int, heads: int, activation: str, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = LayerNorm(width)
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_2 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", make_activation(activation)),
            ("c_proj", nn.Linear(hidden, width)),
        ]))

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """Full block over every token."""
        x = x + self.attn(self.ln_1(x), causal=causal)
        return x + self.mlp(self.ln_2(x))

    def forward_one(self, x: torch.Tensor, index: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """Block output [N, D] at token `index` of each row only (same numbers, less work)."""
        rows = torch.arange(x.shape[0], device=x.device)
        y = x[rows, index] + self.attn(self.ln_1(x), causal=causal, last_query_only=index)[:, 0]
        return y + self.mlp(self.ln_2(y))


class Transformer(nn.Module):
    """Stack of residual attention blocks (`resblocks.{i}`) with optional per-block checkpointing."""

    def __init__(self, width: int, layers: int, heads: int, activation: str, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.width = width
        self.layers = layers
        self.grad_checkpointing = False
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, heads, activation, mlp_ratio) for _ in range(layers)])

    def _run(self, block: ResidualAttentionBlock, x: torch.Tensor, causal: bool) -> torch.Tensor:
        if self.grad_checkpointing and torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(block, x, causal, use_reentrant=False)
        return block(x, causal)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """All tokens through all blocks: [N, L, D] -> [N, L, D]."""
        for block in self.resblocks:
            x = self._run(block, x, causal)
        return x

    def forward_pooled(self, x: torch.Tensor, index: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """Output [N, D] at token `index` of each row; the last block only computes that token."""
        for block in self.resblocks[:-1]:
            x = self._run(block, x, causal)
        last = self.resblocks[-1]
        if self.grad_checkpointing and torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(last.forward_one, x, index, causal, use_reentrant=False)
        return last.forward_one(x, index, causal)
