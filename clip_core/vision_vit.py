"""Vision transformer image tower in OpenAI naming (`conv1`, `class_embedding`, `ln_pre`, `ln_post`, `proj`)."""
from __future__ import annotations

import torch
from torch import nn

from .config import VisionConfig
from .transformer import LayerNorm, Transformer


class VisionTransformer(nn.Module):
    """Patchify conv, class token, positional embedding, ln_pre, blocks, ln_post on the class token, @ proj."""

    def __init__(self, cfg: VisionConfig, output_dim: int, activation: str) -> None:
        super().__init__()
        cfg.validate()
        if not cfg.is_vit:
            raise ValueError("VisionTransformer needs vision.patch_size")
        self.image_size = cfg.image_size
        self.patch_size = cfg.patch_size
        self.output_dim = output_dim
        width = cfg.width
        grid = cfg.image_size // cfg.patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, cfg.layers, cfg.num_heads, activation, cfg.mlp_ratio)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass instead of storing activations."""
        self.transformer.grad_checkpointing = enable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, H, W] -> unnormalised features [N, output_dim]."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"expected images of {self.image_size}x{self.image_size}, got {tuple(x.shape[-2:])}")
        x = self.conv1(x.to(self.conv1.weight.dtype))
        x = x.flatten(2).transpose(1, 2)  # [N, grid*grid, width]
        cls = self.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        index = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        x = self.transformer.forward_pooled(x, index)  # class token only, [N, width]
        return self.ln_post(x) @ self.proj
