"""The CLIP model: image tower, causal text tower and learned logit scale, in OpenAI state-dict naming."""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .config import CLIPConfig, check_activation
from .text import eot_positions, trim_to_last_eot
from .transformer import LayerNorm, Transformer
from .vision_resnet import ModifiedResNet
from .vision_vit import VisionTransformer

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer


class CLIP(nn.Module):
    """Contrastive image-text model; `encode_image`/`encode_text` return unnormalised features."""

    def __init__(self, config: CLIPConfig, activation: str) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.activation = check_activation(activation)
        self.tokenizer: Optional["Tokenizer"] = None
        v, t = config.vision, config.text
        if v.is_vit:
            self.visual: nn.Module = VisionTransformer(v, config.embed_dim, activation)
        else:
            self.visual = ModifiedResNet(v, config.embed_dim)
        self.context_length = t.context_length
        self.vocab_size = t.vocab_size
        self.transformer = Transformer(t.width, t.layers, t.num_heads, activation, t.mlp_ratio)
        self.token_embedding = nn.Embedding(t.vocab_size, t.width)
        self.positional_embedding = nn.Parameter(torch.empty(t.context_length, t.width))
        self.ln_final = LayerNorm(t.width)
        self.text_projection = nn.Parameter(torch.empty(t.width, config.embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * config.init_logit_scale)
        self._init_text_parameters()

    def _init_text_parameters(self) -> None:
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        width, layers = self.transformer.width, self.transformer.layers
        proj_std = width ** -0.5 * (2 * layers) ** -0.5
        attn_std = width ** -0.5
        fc_std = (2 * width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width ** -0.5)

    @property
    def image_size(self) -> int:
        """Input resolution of the image tower."""
        return self.config.vision.image_size

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Per-block gradient checkpointing in both towers."""
        self.visual.set_grad_checkpointing(enable)
        self.transformer.grad_checkpointing = enable

    def encode_image(self, image: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Images [N, 3, S, S] (preprocessed) -> features [N, embed_dim]."""
        features = self.visual(image)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Token ids [N, context_length] -> features [N, embed_dim] taken at the EOT position."""
        if text.dim() != 2 or text.shape[1] > self.context_length:
            raise ValueError(
                f"token ids must have shape [batch, <= {self.context_length}], got {tuple(text.shape)}")
        if text.numel() and (int(text.max()) >= self.vocab_size or int(text.min()) < 0):
            raise ValueError(
                f"token id {int(text.max())} outside the model's vocabulary of {self.vocab_size}; "
                "was the text tokenized with this model's tokenizer?")
        eot = eot_positions(text)
        text = trim_to_last_eot(text, eot)
        dtype = self.text_projection.dtype
        x = self.token_embedding(text).to(dtype) + self.positional_embedding[: text.shape[1]].to(dtype)
        x = self.transformer.forward_pooled(x, eot, causal=True)  # [N, width] at EOT
        x = self.ln_final(x) @ self.text_projection
        return F.normalize(x, dim=-1) if normalize else x

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scaled cosine logits (logits_per_image [N_img, N_txt], logits_per_text [N_txt, N_img])."""
        img = self.encode_image(image, normalize=True)
        txt = self.encode_text(text, normalize=True)
        logits_per_image = self.logit_scale.exp() * img @ txt.t()
        return logits_per_image, logits_per_image.t()

    def get_tokenizer(self) -> "Tokenizer":
        """The checkpoint's tokenizer, or OpenAI's default vocabulary when none was stored."""
        if self.tokenizer is None:
            from .tokenizer import default_tokenizer
            self.tokenizer = default_tokenizer()
        return self.tokenizer

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.LongTensor:
        """Token ids for this model (its vocabulary and context length)."""
        tok = self.get_tokenizer()
        if tok.vocab_size != self.vocab_size:
            raise ValueError(
                f"tokenizer vocabulary ({tok.vocab_size}) does not match the model's ({self.vocab_size})")
        return tok(texts, context_length=self.context_length)

    def preprocess(self, train: bool = False):
        """Image preprocessing transform for this model's resolution."""
        from .transforms import image_transform
        return image_transform(self.image_size, train=train)

    def no_weight_decay_names(self) -> List[str]:
        """Parameters excluded from weight decay (open_clip rule: rank < 2, bn/ln gains, biases, logit_scale)."""
        return [n for n, p in self.named_parameters()
                if p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n]
