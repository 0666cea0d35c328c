"""clip_core gives open_clip's numbers for the same weights (fp32, 1e-5)."""
from __future__ import annotations

import open_clip
import pytest
import torch

from clip_core import CLIP, get_preset

from .conftest import CORPUS, perturb_state_dict

TOL = dict(atol=1e-5, rtol=1e-5)
NAMES = ["RN50", "ViT-B-32", "ViT-B-16-quickgelu"]


def _inputs(model: CLIP, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, model.image_size, model.image_size, generator=g)
    text = open_clip.tokenize([CORPUS[2], CORPUS[11]], context_length=model.context_length)
    return images, text


@pytest.mark.parametrize("name", NAMES)
def test_matches_open_clip(oracle_pair, name):
    ref, ours = oracle_pair(name)
    images, text = _inputs(ours)
    with torch.no_grad():
        torch.testing.assert_close(ours.encode_image(images), ref.encode_image(images), **TOL)
        torch.testing.assert_close(ours.encode_text(text), ref.encode_text(text), **TOL)
        img_f, txt_f, scale = ref(images, text)
        ref_logits = scale * img_f @ txt_f.t()
        logits_per_image, logits_per_text = ours(images, text)
    torch.testing.assert_close(logits_per_image, ref_logits, **TOL)
    torch.testing.assert_close(logits_per_text, ref_logits.t(), **TOL)


def test_activation_matters(oracle_pair):
    """The same weights with the other activation give different features (so the test above can fail)."""
    ref, ours = oracle_pair("ViT-B-16-quickgelu")
    wrong = CLIP(ours.config, "gelu").eval()
    wrong.load_state_dict(ours.state_dict())
    _, text = _inputs(ours)
    with torch.no_grad():
        assert (wrong.encode_text(text) - ref.encode_text(text)).abs().max() > 1e-3


def test_reference_shapes(oracle_pair):
    _, vit = oracle_pair("ViT-B-32")
    assert len(vit.state_dict()) == 302
    assert round(sum(p.numel() for p in vit.parameters()) / 1e6, 2) == 151.28
    _, rn = oracle_pair("RN50")
    assert round(sum(p.numel() for p in rn.parameters()) / 1e6, 2) == 102.01
    assert tuple(rn.state_dict()["visual.attnpool.positional_embedding"].shape) == (50, 2048)
    assert "visual.layer1.0.downsample.0.weight" in rn.state_dict()
    assert "visual.layer1.0.downsample.1.running_var" in rn.state_dict()
    assert not any("attn_mask" in k for k in vit.state_dict())


@pytest.mark.parametrize("preset", ["tiny", "tiny-rn"])
def test_tiny_presets_match_open_clip(preset):
    """The small CPU presets are ordinary CLIPs too: open_clip built from the same config agrees."""
    cfg = get_preset(preset)
    v, t = cfg.vision, cfg.text
    vision_cfg = dict(image_size=v.image_size, width=v.width, patch_size=v.patch_size,
                      layers=list(v.layers) if not v.is_vit else v.layers,
                      head_width=(v.width if v.is_vit else v.width * 32) // v.num_heads)
    text_cfg = dict(context_length=t.context_length, vocab_size=t.vocab_size, width=t.width,
                    heads=t.num_heads, layers=t.layers)
    torch.manual_seed(3)
    ref = open_clip.model.CLIP(cfg.embed_dim, vision_cfg, text_cfg, quick_gelu=False).eval()
    sd = perturb_state_dict(ref.state_dict(), seed=3)
    ref.load_state_dict(sd)
    ours = CLIP(cfg, "gelu").eval()
    ours.load_state_dict(sd, strict=True)
    images, text = _inputs(ours, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(ours.encode_image(images), ref.encode_image(images), **TOL)
        torch.testing.assert_close(ours.encode_text(text), ref.encode_text(text), **TOL)
