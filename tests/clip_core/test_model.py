"""Model behaviour: checkpointing, causal trimming, configs, presets, preprocessing."""
from __future__ import annotations

import dataclasses

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

import clip_core
from clip_core import CLIP, CLIPConfig, get_preset, image_transform
from clip_core.config import PRESETS

from .conftest import small_config


def _batch(model: CLIP, n: int = 3):
    g = torch.Generator().manual_seed(11)
    images = torch.randn(n, 3, model.image_size, model.image_size, generator=g)
    text = torch.randint(1, model.vocab_size - 1, (n, model.context_length), generator=g)
    for i, eot in enumerate([3, 7, 5][:n]):
        text[i, eot] = model.vocab_size - 1
        text[i, eot + 1:] = 0
    return images, text


@pytest.mark.parametrize("vit", [True, False])
def test_grad_checkpointing_same_gradients(vit):
    torch.manual_seed(0)
    model = CLIP(small_config(vit=vit), "gelu").train()
    for m in model.modules():  # keep BN statistics fixed so both passes see identical layers
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    images, text = _batch(model)

    def grads(flag: bool):
        model.zero_grad()
        model.set_grad_checkpointing(flag)
        logits, _ = model(images, text)
        logits.logsumexp(-1).sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, ckpt = grads(False), grads(True)
    assert plain.keys() == ckpt.keys() and len(plain) > 10
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], atol=1e-6, rtol=1e-5)


def test_padding_after_eot_is_ignored(small_vit):
    """Causal mask: what follows EOT never changes the features (so trimming is exact)."""
    _, text = _batch(small_vit)
    noisy = text.clone()
    noisy[0, 4:] = 7  # junk after the EOT at position 3 (ids below EOT keep arg-max at 3)
    with torch.no_grad():
        a, b = small_vit.encode_text(text), small_vit.encode_text(noisy)
    torch.testing.assert_close(a[0], b[0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(a[1:], b[1:], atol=1e-6, rtol=1e-6)


def test_full_block_equals_pooled_block(small_vit):
    """The last-block shortcut (one query) gives the same numbers as running the whole block."""
    x = torch.randn(2, 9, 64)
    block = small_vit.transformer.resblocks[0]
    idx = torch.tensor([3, 8])
    with torch.no_grad():
        full = block(x, causal=True)[torch.arange(2), idx]
        one = block.forward_one(x, idx, causal=True)
    torch.testing.assert_close(one, full, atol=1e-6, rtol=1e-6)


def test_input_errors(small_vit):
    with pytest.raises(ValueError, match="32x32"):
        small_vit.encode_image(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="outside the model's vocabulary of 600"):
        small_vit.encode_text(torch.full((1, 16), 700))
    with pytest.raises(ValueError, match=r"\[batch, <= 16\]"):
        small_vit.encode_text(torch.zeros(1, 20, dtype=torch.long))
    with pytest.raises(ValueError, match="does not match the model's"):
        small_vit.tokenize("a cat")  # OpenAI vocabulary (49408) vs a 600-token model


def test_presets_and_config_round_trip():
    assert {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16", "ViT-L/14",
            "ViT-L/14@336px", "tiny", "tiny-rn"} <= set(clip_core.preset_names())
    for name, cfg in PRESETS.items():
        assert CLIPConfig.from_dict(cfg.to_dict()) == cfg, name
    assert get_preset("ViT-B-32") == get_preset("ViT-B/32")
    assert get_preset("tiny", vocab_size=700).text.vocab_size == 700
    with pytest.raises(ValueError, match="unknown preset 'ViT-Z'"):
        get_preset("ViT-Z")
    with pytest.raises(ValueError, match="activation='quick_gelu'"):
        get_preset("ViT-B-32-quickgelu")
    with pytest.raises(ValueError, match="activation must be one of"):
        CLIP(get_preset("tiny"), "relu")
    bad = dataclasses.replace(get_preset("tiny"), vision=dataclasses.replace(get_preset("tiny").vision, image_size=60))
    with pytest.raises(ValueError, match="vision.image_size"):
        CLIP(bad, "gelu")
    with pytest.raises(ValueError, match="text.width"):
        TextBad = dataclasses.replace(get_preset("tiny").text, heads=5)
        dataclasses.replace(get_preset("tiny"), text=TextBad).validate()


def test_tiny_presets_build_and_run():
    for name in ("tiny", "tiny-rn"):
        model = CLIP(get_preset(name), "gelu").eval()
        assert model.image_size == 64
        with torch.no_grad():
            li, lt = model(torch.randn(2, 3, 64, 64), clip_core.tokenize(["a cat", "a dog"], context_length=32))
        assert li.shape == (2, 2) and torch.allclose(li, lt.t())
        assert abs(model.logit_scale.item() - np.log(1 / 0.07)) < 1e-6
    names = set(model.no_weight_decay_names())
    assert "logit_scale" in names and "ln_final.weight" in names and "text_projection" not in names


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_preprocessing_matches_open_clip(mode):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)).convert(mode)
    ours = image_transform(64)(image)
    ref = open_clip.image_transform(64, is_train=False)(image)
    assert ours.shape == (3, 64, 64)
    torch.testing.assert_close(ours, ref)


def test_training_transform():
    image = Image.new("RGB", (80, 100), (200, 10, 10))
    torch.manual_seed(0)
    out = image_transform(64, train=True)(image)
    assert out.shape == (3, 64, 64)
    expected = (200 / 255 - clip_core.CLIP_MEAN[0]) / clip_core.CLIP_STD[0]
    assert abs(out[0].mean().item() - expected) < 1e-3
    with pytest.raises(ValueError, match="PIL image"):
        image_transform(64)(torch.zeros(3, 8, 8))
