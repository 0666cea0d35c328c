"""Every accepted checkpoint format, written in tmp_path, loads to the same numbers; every error is clear."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import clip_core
from clip_core import CLIP, Tokenizer, load, load_checkpoint, save_checkpoint
from clip_core.checkpoint import infer_config

from .conftest import small_config


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def write_openai_archive(path: Path, sd: Dict[str, torch.Tensor], config) -> Path:
    """A TorchScript archive shaped like OpenAI's: fp16 conv/linear weights plus the three extra entries."""
    root = _Holder()
    entries = dict(sd)
    entries["input_resolution"] = torch.tensor(config.vision.image_size)
    entries["context_length"] = torch.tensor(config.text.context_length)
    entries["vocab_size"] = torch.tensor(config.text.vocab_size)
    for key, value in entries.items():
        if value.is_floating_point() and (value.ndim >= 2 and "embedding" not in key or "proj_bias" in key
                                          or key.endswith(("c_fc.bias", "c_proj.bias", "out_proj.bias"))):
            value = value.half()
        *parts, leaf = key.split(".")
        mod = root
        for part in parts:
            if not hasattr(mod, part):
                mod.add_module(part, nn.Module())
            mod = getattr(mod, part)
        mod.register_buffer(leaf, value)
    with pytest.warns(FutureWarning):
        torch.jit.script(root).save(str(path))
    return path


def fp16_rounded(model: CLIP) -> CLIP:
    """The model as the archive holds it (half-rounded where the archive is half), back in fp32."""
    twin = CLIP(model.config, model.activation).eval()
    rounded = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point() and (v.ndim >= 2 and "embedding" not in k or "proj_bias" in k
                                      or k.endswith(("c_fc.bias", "c_proj.bias", "out_proj.bias"))):
            v = v.half().float()
        rounded[k] = v
    twin.load_state_dict(rounded)
    return twin


def _inputs(model: CLIP):
    g = torch.Generator().manual_seed(5)
    images = torch.randn(2, 3, model.image_size, model.image_size, generator=g)
    text = torch.randint(1, model.vocab_size - 2, (2, model.context_length), generator=g)
    text[0, 5:] = 0
    text[0, 4] = model.vocab_size - 1
    text[1, -1] = model.vocab_size - 1
    return images, text


def assert_same_outputs(a: CLIP, b: CLIP, atol: float = 1e-6) -> None:
    images, text = _inputs(a)
    with torch.no_grad():
        torch.testing.assert_close(a.encode_image(images), b.encode_image(images), atol=atol, rtol=1e-5)
        torch.testing.assert_close(a.encode_text(text), b.encode_text(text), atol=atol, rtol=1e-5)
        torch.testing.assert_close(a.logit_scale, b.logit_scale)


@pytest.mark.parametrize("which", ["small_vit", "small_rn"])
def test_openai_torchscript_archive(tmp_path, request, which):
    model = request.getfixturevalue(which)
    path = write_openai_archive(tmp_path / "ViT-tiny.pt", model.state_dict(), model.config)
    loaded = load_checkpoint(path)
    assert loaded.format == "openai-torchscript" and loaded.activation == "quick_gelu"
    assert loaded.config == infer_config(model.state_dict())
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    ref = fp16_rounded(model) if model.activation == "quick_gelu" else CLIP(model.config, "quick_gelu").eval()
    if model.activation != "quick_gelu":
        ref.load_state_dict(fp16_rounded(model).state_dict())
    assert_same_outputs(loaded.model, ref)
    with pytest.raises(ValueError, match="records activation 'quick_gelu'"):
        load(path, activation="gelu")


def test_inferred_config_matches(small_vit, small_rn):
    assert infer_config(small_vit.state_dict()) == small_vit.config
    assert infer_config(small_rn.state_dict()) == small_rn.config


def test_safetensors_needs_activation(tmp_path, small_vit):
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in small_vit.state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="activation='gelu' or activation='quick_gelu'"):
        load(path)
    model = load(path, activation="quick_gelu")
    assert_same_outputs(model, small_vit)
    with pytest.raises(ValueError, match="activation argument"):
        load(path, activation="relu")


@pytest.mark.parametrize("wrapped", [True, False])
def test_module_prefixed_openclip_pt(tmp_path, small_rn, wrapped):
    sd = {"module." + k: v for k, v in small_rn.state_dict().items()}
    payload = {"epoch": 3, "name": "run1", "state_dict": sd, "optimizer": {}} if wrapped else sd
    path = tmp_path / "epoch_3.pt"
    torch.save(payload, path)
    loaded = load_checkpoint(path, activation="gelu")
    assert loaded.format == "openclip"
    assert_same_outputs(loaded.model, small_rn)
    if wrapped:
        assert loaded.extra["epoch"] == 3


@pytest.mark.parametrize("quick, weights", [(True, "open_clip_model.safetensors"), (False, "open_clip_pytorch_model.bin")])
def test_hub_folder(tmp_path, small_vit, quick, weights):
    folder = tmp_path / "hub"
    folder.mkdir()
    cfg = small_vit.config
    model_cfg = {"embed_dim": cfg.embed_dim,
                 "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16},
                 "text_cfg": {"context_length": 16, "vocab_size": cfg.text.vocab_size, "width": 64, "heads": 1,
                              "layers": 2}}
    if quick:
        model_cfg["quick_gelu"] = True
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    sd = small_vit.state_dict()
    if weights.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / weights))
    else:
        torch.save(sd, folder / weights)
    loaded = load_checkpoint(folder)
    assert loaded.format == "openclip-hub"
    assert loaded.activation == ("quick_gelu" if quick else "gelu")
    if quick:
        assert_same_outputs(loaded.model, small_vit)
    else:
        images, _ = _inputs(small_vit)
        with torch.no_grad():
            assert not torch.allclose(loaded.model.encode_image(images), small_vit.encode_image(images), atol=1e-4)


def test_hub_folder_errors(tmp_path, small_vit):
    folder = tmp_path / "hub"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="open_clip_config.json"):
        load(folder)
    (folder / "open_clip_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        load(folder)
    (folder / "open_clip_config.json").write_text(json.dumps({"preprocess_cfg": {}}))
    with pytest.raises(ValueError, match="model_cfg"):
        load(folder)
    base = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 600, "width": 64, "heads": 1, "layers": 2}}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": base}))
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load(folder)
    torch.save(small_vit.state_dict(), folder / "open_clip_pytorch_model.bin")
    assert load(folder).activation == "gelu"
    bad = json.loads(json.dumps(base))
    bad["text_cfg"]["pool_type"] = "last"
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": bad}))
    with pytest.raises(ValueError, match=r"text_cfg.pool_type='last'"):
        load(folder)
    bad = json.loads(json.dumps(base))
    bad["text_cfg"]["width"] = 128
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": bad}))
    with pytest.raises(ValueError, match=r"text_cfg.width=128 but the weights have 64"):
        load(folder)


def test_own_format_round_trip(tmp_path):
    captions = ["a photo of a cat", "a photo of a dog", "a red car", "a cat on a car"] * 4
    tok = Tokenizer.train(captions, vocab_size=540, context_length=16)
    torch.manual_seed(7)
    model = CLIP(small_config(vit=True, vocab_size=tok.vocab_size), "gelu").eval()
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", model, model.config, tok, "gelu",
                           extra={"epoch": 2, "name": "tiny-run", "optimizer": {"lr": 0.1}})
    assert not [p for p in path.parent.iterdir() if p.name != "ckpt.pt"]  # temp file renamed away
    loaded = load_checkpoint(path)
    assert loaded.format == "clip_core" and loaded.activation == "gelu" and loaded.config == model.config
    assert loaded.tokenizer is not None and loaded.tokenizer.merges == tok.merges
    assert loaded.extra == {"epoch": 2, "name": "tiny-run", "optimizer": {"lr": 0.1}}
    assert_same_outputs(loaded.model, model, atol=0)
    assert torch.equal(loaded.model.tokenize(captions[:2]), tok(captions[:2], context_length=16))
    raw = torch.load(path, weights_only=True)
    assert {"epoch", "name", "state_dict", "optimizer"} <= set(raw)
    with pytest.raises(ValueError, match="records activation 'gelu'"):
        load(path, activation="quick_gelu")
    # config not inferable from shapes (heads != width/64) still round-trips
    cfg = small_config(vocab_size=tok.vocab_size)
    odd = CLIP(clip_core.CLIPConfig(cfg.embed_dim, clip_core.VisionConfig(32, 48, 1, 16, heads=4),
                                    clip_core.TextConfig(16, tok.vocab_size, 48, 3, 1)), "quick_gelu").eval()
    assert_same_outputs(load(save_checkpoint(tmp_path / "odd.pt", odd, tokenizer=tok)), odd, atol=0)


def test_own_format_errors(tmp_path, small_vit):
    tok = Tokenizer.train(["a b c", "a b"], vocab_size=520)
    with pytest.raises(ValueError, match="does not match config.text.vocab_size"):
        save_checkpoint(tmp_path / "x.pt", small_vit, tokenizer=tok)
    ok_tok = Tokenizer(tok.merges + [(f"z{i}", "q") for i in range(600 - 514 - len(tok.merges))])
    assert ok_tok.vocab_size == 600
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.pt", small_vit, tokenizer=ok_tok, extra={"state_dict": {}})
    path = save_checkpoint(tmp_path / "x.pt", small_vit, tokenizer=ok_tok)
    raw = torch.load(path, weights_only=True)
    raw["clip_core"]["format_version"] = 99
    torch.save(raw, tmp_path / "v99.pt")
    with pytest.raises(ValueError, match="format_version 99"):
        load(tmp_path / "v99.pt")
    raw["clip_core"]["format_version"] = 1
    raw["clip_core"]["activation"] = "swish"
    torch.save(raw, tmp_path / "act.pt")
    with pytest.raises(ValueError, match="clip_core.activation"):
        load(tmp_path / "act.pt")
    raw["clip_core"]["activation"] = "gelu"
    raw["clip_core"]["config"]["bogus"] = 1
    torch.save(raw, tmp_path / "cfg.pt")
    with pytest.raises(ValueError, match="bogus"):
        load(tmp_path / "cfg.pt")


def test_key_errors_are_listed(tmp_path, small_vit):
    sd = dict(small_vit.state_dict())
    del sd["visual.ln_post.weight"]
    sd["visual.extra_head.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "keys.pt")
    with pytest.raises(ValueError) as err:
        load(tmp_path / "keys.pt", activation="gelu")
    msg = str(err.value)
    assert "missing keys (1): ['visual.ln_post.weight']" in msg
    assert "unexpected keys (1): ['visual.extra_head.weight']" in msg
    sd = dict(small_vit.state_dict())
    sd["visual.ln_pre.bias"] = torch.zeros(65)
    torch.save(sd, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match=r"visual.ln_pre.bias: file \(65,\) vs model \(64,\)"):
        load(tmp_path / "shape.pt", activation="gelu")
    sd = {k: v for k, v in small_vit.state_dict().items() if k != "text_projection"}
    torch.save(sd, tmp_path / "notclip.pt")
    with pytest.raises(ValueError, match=r"not a CLIP state dict; missing keys \['text_projection'\]"):
        load(tmp_path / "notclip.pt", activation="gelu")


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load(tmp_path / "nothing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="text.pt"):
        load(tmp_path / "text.pt", activation="gelu")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="bad.safetensors"):
        load(tmp_path / "bad.safetensors", activation="gelu")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="expected a non-empty dict of tensors"):
        load(tmp_path / "list.pt", activation="gelu")


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_untrusted_pickle_refused(tmp_path):
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only=True"):
        load(tmp_path / "evil.pt", activation="gelu")


def test_device_and_eval_mode(tmp_path, small_rn):
    path = tmp_path / "rn.pt"
    torch.save(small_rn.state_dict(), path)
    model = load(path, activation="gelu", device="cpu")
    assert not model.training and next(model.parameters()).device.type == "cpu"


def test_hub_folder_heads_from_config(tmp_path):
    """Widths off the width/64 rule load from a hub folder (heads recorded) but not from a bare file."""
    cfg = clip_core.CLIPConfig(24, clip_core.VisionConfig(32, 48, 1, 16, heads=3),
                               clip_core.TextConfig(16, 600, 48, 3, 1))
    torch.manual_seed(9)
    model = CLIP(cfg, "gelu").eval()
    folder = tmp_path / "hub"
    folder.mkdir()
    model_cfg = {"embed_dim": 24, "vision_cfg": {"image_size": 32, "layers": 1, "width": 48, "patch_size": 16,
                                                  "head_width": 16},
                 "text_cfg": {"context_length": 16, "vocab_size": 600, "width": 48, "heads": 3, "layers": 1}}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    loaded = load_checkpoint(folder)
    assert loaded.config == cfg
    assert_same_outputs(loaded.model, model, atol=0)
    with pytest.raises(ValueError, match="cannot infer attention heads for vision width 48"):
        load(folder / "open_clip_model.safetensors", activation="gelu")
