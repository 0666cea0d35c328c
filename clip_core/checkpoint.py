"""Load OpenAI TorchScript archives, OpenCLIP checkpoints and our own files; save our own format atomically.

No code from a checkpoint ever runs: pickles are read with ``torch.load(..., weights_only=True)`` and
TorchScript archives for their tensors only (``torchscript_archive``), never with ``torch.jit.load``.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch

from .atomic_files import atomic_torch_save
from .config import ACTIVATIONS, CLIPConfig, TextConfig, VisionConfig, check_activation
from .model import CLIP
from .safe_load import load_weights_only
from .tokenizer import Tokenizer, default_tokenizer
from .torchscript_archive import read_torchscript_tensors

PathLike = Union[str, os.PathLike]
FORMAT_KEY = "clip_core"
FORMAT_VERSION = 1
OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")
HUB_CONFIG = "open_clip_config.json"
HUB_WEIGHTS = (
    "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
    "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth",
)
_RESERVED = ("state_dict", FORMAT_KEY)

_ACTIVATION_HELP = (
    "this checkpoint does not record its activation. OpenAI-trained weights use QuickGELU and most "
    "OpenCLIP-trained ones GELU (each OpenCLIP pretrained tag says which, e.g. a '-quickgelu' model name); "
    "a wrong choice loads silently and costs accuracy (about 2.7 points ImageNet zero-shot on ViT-B/32). "
    "Pass activation='gelu' or activation='quick_gelu'.")


@dataclass
class LoadedCheckpoint:
    """A loaded model with everything its file said about itself."""

    model: CLIP
    config: CLIPConfig
    activation: str
    format: str  # "openai-torchscript" | "openclip" | "openclip-hub" | "safetensors" | "clip_core"
    tokenizer: Optional[Tokenizer] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def _block_indices(keys: List[str], prefix: str) -> List[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in keys for m in [pat.match(k)] if m})


def _count_blocks(keys: List[str], prefix: str, source: str) -> int:
    idx = _block_indices(keys, prefix)
    if idx != list(range(len(idx))):
        raise ValueError(f"{source}: block indices under {prefix!r} are not contiguous from 0: {idx}")
    return len(idx)


def _heads_for(width: int, what: str, source: str) -> int:
    if width < 64 or width % 64:
        raise ValueError(
            f"{source}: cannot infer attention heads for {what} width {width} (the reference rule is width/64); "
            "only checkpoints that record their config (clip_core files, OpenCLIP hub folders) may use other widths")
    return width // 64


def infer_config(state_dict: Mapping[str, torch.Tensor], source: str = "state dict",
                 vision_heads: Optional[int] = None, text_heads: Optional[int] = None) -> CLIPConfig:
    """Architecture from key names and shapes alone (ViT iff `visual.proj` exists); heads default to width/64."""
    keys = list(state_dict)
    text_req = ["token_embedding.weight", "positional_embedding", "ln_final.weight", "text_projection"]
    vit = "visual.proj" in state_dict
    vis_req = (["visual.conv1.weight", "visual.positional_embedding"] if vit
               else ["visual.layer1.0.conv1.weight", "visual.attnpool.positional_embedding"])
    missing = [k for k in text_req + vis_req if k not in state_dict]
    if missing:
        raise ValueError(f"{source}: not a CLIP state dict; missing keys {missing}")
    sd = state_dict
    if vit:
        width = int(sd["visual.conv1.weight"].shape[0])
        patch = int(sd["visual.conv1.weight"].shape[-1])
        n_pos = int(sd["visual.positional_embedding"].shape[0])
        grid = round((n_pos - 1) ** 0.5)
        if grid * grid + 1 != n_pos:
            raise ValueError(f"{source}: visual.positional_embedding has {n_pos} rows, not grid^2 + 1")
        layers = _count_blocks(keys, "visual.transformer.resblocks.", source)
        c_fc = sd.get("visual.transformer.resblocks.0.mlp.c_fc.weight")
        vision = VisionConfig(
            image_size=patch * grid, width=width, layers=layers, patch_size=patch,
            heads=vision_heads or _heads_for(width, "vision", source),
            mlp_ratio=float(c_fc.shape[0]) / width if c_fc is not None else 4.0)
    else:
        counts = tuple(_count_blocks(keys, f"visual.layer{b}.", source) for b in (1, 2, 3, 4))
        width = int(sd["visual.layer1.0.conv1.weight"].shape[0])
        n_pos = int(sd["visual.attnpool.positional_embedding"].shape[0])
        spatial = round((n_pos - 1) ** 0.5)
        if spatial * spatial + 1 != n_pos:
            raise ValueError(f"{source}: visual.attnpool.positional_embedding has {n_pos} rows, not s^2 + 1")
        vision = VisionConfig(image_size=32 * spatial, width=width, layers=counts, patch_size=None,
                              heads=vision_heads or _heads_for(width * 32, "attention-pool", source))
    t_width = int(sd["ln_final.weight"].shape[0])
    c_fc = sd.get("transformer.resblocks.0.mlp.c_fc.weight")
    text = TextConfig(
        context_length=int(sd["positional_embedding"].shape[0]),
        vocab_size=int(sd["token_embedding.weight"].shape[0]),
        width=t_width, heads=text_heads or _heads_for(t_width, "text", source),
        layers=_count_blocks(keys, "transformer.resblocks.", source),
        mlp_ratio=float(c_fc.shape[0]) / t_width if c_fc is not None else 4.0)
    try:
        return CLIPConfig(embed_dim=int(sd["text_projection"].shape[1]), vision=vision, text=text).validate()
    except ValueError as exc:
        raise ValueError(f"{source}: inconsistent shapes: {exc}") from exc


def _strip_module_prefix(sd: Dict[str, Any]) -> Dict[str, Any]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _as_state_dict(obj: Any, source: str) -> Dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f"{source}: expected a non-empty dict of tensors, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{source}: state dict entries that are not named tensors: {bad[:10]}")
    return _strip_module_prefix(dict(obj))


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())


def _load_safetensors(path: Path) -> Dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .safetensors file ({exc})") from exc


_HUB_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "vision_cfg": {"ls_init_value": None, "attentional_pool": False, "no_ln_pre": False,
                   "pos_embed_type": "learnable", "final_ln_after_pool": False, "pool_type": "tok",
                   "output_tokens": False, "act_kwargs": None, "norm_kwargs": None, "timm_model_name": None},
    "text_cfg": {"ls_init_value": None, "hf_model_name": None, "proj_type": "linear", "proj_bias": False,
                 "pool_type": "argmax", "embed_cls": False, "no_causal_mask": False, "output_tokens": False,
                 "act_kwargs": None, "norm_kwargs": None, "pad_id": 0},
}
_HUB_KNOWN = {
    "vision_cfg": {"image_size", "layers", "width", "patch_size", "patch_dropout", "head_width", "mlp_ratio"},
    "text_cfg": {"context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio", "hf_tokenizer_name",
                 "tokenizer_kwargs"},
}


def _check_hub_fields(model_cfg: Mapping[str, Any], source: str) -> None:
    """Reject OpenCLIP variants clip_core does not implement (naming the field)."""
    top_ok = {"embed_dim", "quick_gelu", "vision_cfg", "text_cfg", "custom_text", "init_logit_scale"}
    for key in model_cfg:
        if key not in top_ok:
            raise ValueError(f"{source}: model_cfg.{key} is not supported by clip_core (standard CLIP only)")
    if model_cfg.get("custom_text"):
        raise ValueError(f"{source}: model_cfg.custom_text=true is not supported by clip_core")
    for tower in ("vision_cfg", "text_cfg"):
        sub = model_cfg.get(tower, {})
        if not isinstance(sub, Mapping):
            raise ValueError(f"{source}: model_cfg.{tower} must be an object")
        for key, value in sub.items():
            if key in _HUB_KNOWN[tower]:
                continue
            if key not in _HUB_DEFAULTS[tower] or _HUB_DEFAULTS[tower][key] != value:
                raise ValueError(
                    f"{source}: model_cfg.{tower}.{key}={value!r} is not supported by clip_core (standard CLIP only)")


def _check_hub_shapes(model_cfg: Mapping[str, Any], cfg: CLIPConfig, source: str) -> CLIPConfig:
    """Fail when the config contradicts the architecture found in the weights."""
    v, t = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    checks = [("embed_dim", model_cfg.get("embed_dim"), cfg.embed_dim),
              ("vision_cfg.width", v.get("width"), cfg.vision.width),
              ("vision_cfg.image_size", v.get("image_size"), cfg.vision.image_size),
              ("vision_cfg.patch_size", v.get("patch_size"), cfg.vision.patch_size),
              ("text_cfg.width", t.get("width"), cfg.text.width),
              ("text_cfg.layers", t.get("layers"), cfg.text.layers),
              ("text_cfg.context_length", t.get("context_length"), cfg.text.context_length),
              ("text_cfg.vocab_size", t.get("vocab_size"), cfg.text.vocab_size)]
    layers = v.get("layers")
    checks.append(("vision_cfg.layers", tuple(layers) if isinstance(layers, list) else layers, cfg.vision.layers))
    for name, said, found in checks:
        if said is not None and said != found and not (name == "vision_cfg.patch_size" and found is None):
            raise ValueError(f"{source}: model_cfg.{name}={said!r} but the weights have {found!r}")
    return cfg


def _hub_heads(model_cfg: Mapping[str, Any], sd: Mapping[str, torch.Tensor]) -> Tuple[Optional[int], Optional[int]]:
    """Heads recorded by an OpenCLIP config (vision: feature width / head_width; text: `heads`)."""
    v, t = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    vision_heads = None
    if "visual.conv1.weight" in sd and "visual.proj" in sd:
        vision_heads = int(sd["visual.conv1.weight"].shape[0]) // int(v.get("head_width", 64))
    elif "visual.layer1.0.conv1.weight" in sd:
        vision_heads = int(sd["visual.layer1.0.conv1.weight"].shape[0]) * 32 // int(v.get("head_width", 64))
    text_heads = int(t["heads"]) if t.get("heads") else None
    return vision_heads or None, text_heads


def _read_hub_folder(folder: Path) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any], Path]:
    cfg_path = folder / HUB_CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{folder}: a checkpoint folder must hold {HUB_CONFIG} (an OpenCLIP hub folder)")
    try:
        hub_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cfg_path}: invalid JSON ({exc})") from exc
    if not isinstance(hub_cfg, dict) or not isinstance(hub_cfg.get("model_cfg"), dict):
        raise ValueError(f"{cfg_path}: missing the 'model_cfg' object")
    for name in HUB_WEIGHTS:
        weights = folder / name
        if weights.is_file():
            break
    else:
        raise FileNotFoundError(f"{folder}: no weights file; expected one of {', '.join(HUB_WEIGHTS)}")
    raw = _load_safetensors(weights) if weights.suffix == ".safetensors" else load_weights_only(weights)
    if isinstance(raw, Mapping) and "state_dict" in raw:
        raw = raw["state_dict"]
    return _as_state_dict(raw, str(weights)), hub_cfg["model_cfg"], weights


def _pick_activation(recorded: Optional[str], given: Optional[str], source: str) -> str:
    if given is not None:
        check_activation(given, "activation argument")
    if recorded is not None:
        if given is not None and given != recorded:
            raise ValueError(
                f"{source}: the checkpoint records activation {recorded!r} but activation={given!r} was passed; "
                "leave activation=None for checkpoints that record it")
        return recorded
    if given is None:
        raise ValueError(f"{source}: {_ACTIVATION_HELP}")
    return given


def read_checkpoint(path: PathLike, activation: Optional[str] = None) -> Tuple[
        Dict[str, torch.Tensor], CLIPConfig, str, str, Optional[Tokenizer], Dict[str, Any]]:
    """Parse any accepted file/folder: (state_dict, config, activation, format, tokenizer, extra)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    tokenizer: Optional[Tokenizer] = None
    extra: Dict[str, Any] = {}
    recorded: Optional[str] = None
    config: Optional[CLIPConfig] = None
    source = str(p)
    if p.is_dir():
        sd, model_cfg, weights = _read_hub_folder(p)
        fmt, source = "openclip-hub", str(weights)
        recorded = "quick_gelu" if model_cfg.get("quick_gelu") else "gelu"
        _check_hub_fields(model_cfg, str(p / HUB_CONFIG))
        vision_heads, text_heads = _hub_heads(model_cfg, sd)
        config = _check_hub_shapes(model_cfg, infer_config(sd, source, vision_heads, text_heads), str(p / HUB_CONFIG))
    elif p.suffix == ".safetensors":
        sd, fmt = _as_state_dict(_load_safetensors(p), source), "safetensors"
    elif _is_torchscript(p):
        sd = {k: v for k, v in read_torchscript_tensors(p).items() if k not in OPENAI_EXTRA_KEYS}
        sd, fmt, recorded = _as_state_dict(sd, source), "openai-torchscript", "quick_gelu"
    else:
        raw = load_weights_only(p)
        if isinstance(raw, Mapping) and FORMAT_KEY in raw:
            meta = raw[FORMAT_KEY]
            version = meta.get("format_version") if isinstance(meta, Mapping) else None
            if version != FORMAT_VERSION:
                raise ValueError(f"{p}: unsupported {FORMAT_KEY}.format_version {version!r} (expected {FORMAT_VERSION})")
            for key in ("config", "activation", "tokenizer_merges"):
                if key not in meta:
                    raise ValueError(f"{p}: clip_core checkpoint lacks field {FORMAT_KEY}.{key}")
            if "state_dict" not in raw:
                raise ValueError(f"{p}: clip_core checkpoint lacks field state_dict")
            config = CLIPConfig.from_dict(meta["config"], source=f"{p}: {FORMAT_KEY}.config")
            recorded = check_activation(meta["activation"], f"{p}: {FORMAT_KEY}.activation")
            merges = [tuple(m.split(" ")) for m in meta["tokenizer_merges"]]
            if any(len(m) != 2 for m in merges):
                raise ValueError(f"{p}: {FORMAT_KEY}.tokenizer_merges holds entries that are not 'a b' merges")
            tokenizer = Tokenizer(merges, context_length=config.text.context_length)
            extra = {k: v for k, v in raw.items() if k not in _RESERVED}
            sd, fmt = _as_state_dict(raw["state_dict"], source), "clip_core"
        else:
            if isinstance(raw, Mapping) and "state_dict" in raw:
                extra = {k: v for k, v in raw.items() if k != "state_dict"}
                raw = raw["state_dict"]
            sd, fmt = _as_state_dict(raw, source), "openclip"
    for key in OPENAI_EXTRA_KEYS:
        sd.pop(key, None)
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    if config is None:
        config = infer_config(sd, source)
    act = _pick_activation(recorded, activation, source)
    return sd, config, act, fmt, tokenizer, extra


def load_state_dict_strict(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> None:
    """Load weights; missing/unexpected keys or shape mismatches raise a ValueError listing them."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {missing}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {unexpected}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {shapes}")
        raise ValueError(f"{source}: weights do not fit the model; " + "; ".join(parts))
    model.load_state_dict(sd, strict=False)


def load_checkpoint(path: PathLike, activation: Optional[str] = None, device: Union[str, torch.device] = "cpu") -> LoadedCheckpoint:
    """Load any accepted checkpoint into a `CLIP` (eval mode, fp32) with its recorded metadata."""
    sd, config, act, fmt, tokenizer, extra = read_checkpoint(path, activation)
    model = CLIP(config, act)
    load_state_dict_strict(model, sd, str(path))
    model.tokenizer = tokenizer
    model = model.to(device).eval()
    return LoadedCheckpoint(model=model, config=config, activation=act, format=fmt, tokenizer=tokenizer, extra=extra)


def load(path: PathLike, activation: Optional[str] = None, device: Union[str, torch.device] = "cpu") -> CLIP:
    """Load an OpenAI, OpenCLIP or clip_core checkpoint as a `CLIP` model (architecture inferred from shapes)."""
    return load_checkpoint(path, activation, device).model


def save_checkpoint(path: PathLike, model: CLIP, config: Optional[CLIPConfig] = None,
                    tokenizer: Optional[Tokenizer] = None, activation: Optional[str] = None,
                    extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write our own format (config, activation, tokenizer merges, state_dict, extra keys) via temp file + rename."""
    p = Path(path)
    atomic_torch_save(checkpoint_payload(model, config, tokenizer, activation, extra), p)
    return p


def checkpoint_payload(model: CLIP, config: Optional[CLIPConfig] = None, tokenizer: Optional[Tokenizer] = None,
                       activation: Optional[str] = None, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The dict our own format saves: extra keys, CPU state_dict, and config, activation and tokenizer merges."""
    config = config or model.config
    activation = check_activation(activation or model.activation, "activation")
    tokenizer = tokenizer or model.tokenizer
    if tokenizer is None:
        tokenizer = default_tokenizer()
    if tokenizer.vocab_size != config.text.vocab_size:
        raise ValueError(
            f"tokenizer vocabulary ({tokenizer.vocab_size}) does not match config.text.vocab_size "
            f"({config.text.vocab_size})")
    extra = dict(extra or {})
    clash = [k for k in extra if k in _RESERVED]
    if clash:
        raise ValueError(f"extra keys {clash} are reserved by the clip_core checkpoint format")
    payload = {
        **extra,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        FORMAT_KEY: {
            "format_version": FORMAT_VERSION,
            "config": config.to_dict(),
            "activation": activation,
            "tokenizer_merges": [f"{a} {b}" for a, b in tokenizer.merges],
        },
    }
    return payload


__all__ = ["ACTIVATIONS", "LoadedCheckpoint", "checkpoint_payload", "infer_config", "load", "load_checkpoint",
           "read_checkpoint", "save_checkpoint", "load_state_dict_strict"]
