"""Session-scoped models and helpers shared by the clip_core tests."""
from __future__ import annotations

import logging
from typing import Callable, Dict, Tuple

import pytest
import torch

from clip_core import CLIP, CLIPConfig, TextConfig, VisionConfig

logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that pretrained=None means random weights


def perturb_state_dict(sd: Dict[str, torch.Tensor], seed: int = 0) -> Dict[str, torch.Tensor]:
    """Make zero-initialised gains/biases/BN statistics non-trivial so every weight affects the outputs."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in sd.items():
        if not v.is_floating_point() or k == "logit_scale":
            out[k] = v.clone()
        elif k.endswith("running_var"):
            out[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith("running_mean") or k.endswith("bias"):
            out[k] = v + 0.05 * torch.randn(v.shape, generator=g)
        elif v.ndim == 1:  # LayerNorm / BatchNorm gains
            out[k] = v + 0.1 * torch.randn(v.shape, generator=g) + (0.5 if k.endswith("bn3.weight") else 0.0)
        else:
            out[k] = v.clone()
    return out


@pytest.fixture(scope="module")  # only test_oracle.py uses it; frees ~3 GB for the rest of the suite
def oracle_pair() -> Callable[[str], Tuple[torch.nn.Module, CLIP]]:
    """open_clip model with random weights and our model holding the same (perturbed) weights, cached per name."""
    import open_clip

    from clip_core import get_preset

    cache: Dict[str, Tuple[torch.nn.Module, CLIP]] = {}

    def build(name: str) -> Tuple[torch.nn.Module, CLIP]:
        if name not in cache:
            torch.manual_seed(0)
            ref = open_clip.create_model(name, pretrained=None).eval()
            sd = perturb_state_dict(ref.state_dict())
            ref.load_state_dict(sd)
            act = "quick_gelu" if name.endswith("-quickgelu") else "gelu"
            ours = CLIP(get_preset(name.replace("-quickgelu", "")), act).eval()
            ours.load_state_dict(sd, strict=True)
            cache[name] = (ref, ours)
        return cache[name]

    return build


def small_config(vit: bool = True, vocab_size: int = 600) -> CLIPConfig:
    """A light architecture whose widths follow the width/64 head rule, so it is inferable from shapes."""
    if vit:
        vision = VisionConfig(image_size=32, width=64, layers=2, patch_size=16, heads=1)
    else:
        vision = VisionConfig(image_size=64, width=8, layers=(1, 2, 1, 1), patch_size=None, heads=4)
    return CLIPConfig(embed_dim=32, vision=vision,
                      text=TextConfig(context_length=16, vocab_size=vocab_size, width=64, heads=1, layers=2))


@pytest.fixture(scope="session")
def small_vit() -> CLIP:
    """Small random ViT CLIP (QuickGELU), eval mode, with non-trivial gains and biases."""
    torch.manual_seed(1)
    model = CLIP(small_config(vit=True), "quick_gelu").eval()
    model.load_state_dict(perturb_state_dict(model.state_dict(), seed=1))
    return model


@pytest.fixture(scope="session")
def small_rn() -> CLIP:
    """Small random ResNet CLIP (GELU text), eval mode, with non-trivial BN statistics."""
    torch.manual_seed(2)
    model = CLIP(small_config(vit=False), "gelu").eval()
    model.load_state_dict(perturb_state_dict(model.state_dict(), seed=2))
    return model


CORPUS = [
    "a photo of a cat.",
    "A Photo Of A DOG!!",
    "two dogs playing in the snow, 2019",
    "the year 1999 and 3.14159",
    "café crème brûlée — naïve façade",
    "日本語のテキスト and 中文 mixed with English",
    "emoji 🐱🐶 party 🎉",
    "Tom &amp; Jerry &lt;3 &amp;amp; friends",
    "it's, they're, we've, I'm, you'll, he'd don't",
    "IT'S LOUD",
    "   lots   of\twhite\nspace   ",
    "punctuation!?...;:--((brackets))[x]{y} @user #tag $100 50%",
    "ümlaut Ärger ß ﬁ ligature",
    "Ελληνικά κείμενα και русский текст",
    "mojibake: Ã©tÃ©",
    "",
    "x" * 300,
    " ".join(["word"] * 120),
    "https://example.com/path?q=1&r=2",
    "<b>bold</b> html tags",
]
