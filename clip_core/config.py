"""Model configuration dataclasses and named presets (OpenAI releases plus small CPU presets)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

ACTIVATIONS = ("gelu", "quick_gelu")


@dataclass(frozen=True)
class VisionConfig:
    """Image tower: a ViT when `patch_size` is set, else an attention-pooled ResNet."""

    image_size: int = 224
    width: int = 768
    layers: Any = 12  # int for ViT; tuple of 4 block counts for ResNet
    patch_size: Optional[int] = 32
    heads: Optional[int] = None  # default: width // 64 (ViT), 32 * width // 64 (ResNet)
    mlp_ratio: float = 4.0

    @property
    def is_vit(self) -> bool:
        """True for a vision transformer, False for a ResNet."""
        return self.patch_size is not None

    @property
    def num_heads(self) -> int:
        """Attention heads (ViT blocks or the ResNet attention pool)."""
        if self.heads is not None:
            return int(self.heads)
        return self.width // 64 if self.is_vit else self.width * 32 // 64

    def validate(self) -> None:
        """Raise ValueError naming the field when the configuration is inconsistent."""
        if self.is_vit:
            if not isinstance(self.layers, int) or self.layers < 1:
                raise ValueError(f"vision.layers must be a positive int for a ViT, got {self.layers!r}")
            if self.image_size % self.patch_size:
                raise ValueError(
                    f"vision.image_size ({self.image_size}) must be a multiple of vision.patch_size ({self.patch_size})")
            if self.num_heads < 1 or self.width % self.num_heads:
                raise ValueError(f"vision.width ({self.width}) must be divisible by vision.heads ({self.num_heads})")
        else:
            if not (isinstance(self.layers, (tuple, list)) and len(self.layers) == 4
                    and all(isinstance(n, int) and n >= 1 for n in self.layers)):
                raise ValueError(f"vision.layers must be 4 positive ints for a ResNet, got {self.layers!r}")
            if self.image_size % 32:
                raise ValueError(f"vision.image_size ({self.image_size}) must be a multiple of 32 for a ResNet")
            if self.num_heads < 1 or (self.width * 32) % self.num_heads:
                raise ValueError(f"vision.heads ({self.num_heads}) must divide the ResNet feature width {self.width * 32}")


@dataclass(frozen=True)
class TextConfig:
    """Causal text transformer."""

    context_length: int = 77
    vocab_size: int = 49408
    width: int = 512
    heads: Optional[int] = None  # default: width // 64
    layers: int = 12
    mlp_ratio: float = 4.0

    @property
    def num_heads(self) -> int:
        """Attention heads of every text block."""
        return int(self.heads) if self.heads is not None else self.width // 64

    def validate(self) -> None:
        """Raise ValueError naming the field when the configuration is inconsistent."""
        for name in ("context_length", "vocab_size", "width", "layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"text.{name} must be positive, got {getattr(self, name)!r}")
        if self.num_heads < 1 or self.width % self.num_heads:
            raise ValueError(f"text.width ({self.width}) must be divisible by text.heads ({self.num_heads})")


@dataclass(frozen=True)
class CLIPConfig:
    """Full CLIP model: embedding size, both towers and the logit scale initialisation."""

    embed_dim: int = 512
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    init_logit_scale: float = 2.6592600369644043  # ln(1 / 0.07)

    def validate(self) -> "CLIPConfig":
        """Check both towers; returns self so it can be chained."""
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be positive, got {self.embed_dim!r}")
        self.vision.validate()
        self.text.validate()
        return self

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form (JSON and weights_only-pickle safe)."""
        d = dataclasses.asdict(self)
        if isinstance(d["vision"]["layers"], (tuple, list)):
            d["vision"]["layers"] = list(d["vision"]["layers"])
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any], source: str = "config") -> "CLIPConfig":
        """Inverse of `to_dict`; unknown fields raise ValueError naming `source`."""
        if not isinstance(d, dict):
            raise ValueError(f"{source}: config must be a dict, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{source}: unknown config fields {sorted(unknown)}")
        try:
            v = dict(d.get("vision", {}))
            if isinstance(v.get("layers"), list):
                v["layers"] = tuple(v["layers"])
            vision = VisionConfig(**v)
            text = TextConfig(**dict(d.get("text", {})))
        except TypeError as exc:
            raise ValueError(f"{source}: bad vision/text config: {exc}") from exc
        rest = {k: d[k] for k in ("embed_dim", "init_logit_scale") if k in d}
        return cls(vision=vision, text=text, **rest).validate()


def _openai_text(width: int) -> TextConfig:
    return TextConfig(context_length=77, vocab_size=49408, width=width, heads=width // 64, layers=12)


PRESETS: Dict[str, CLIPConfig] = {
    "RN50": CLIPConfig(1024, VisionConfig(224, 64, (3, 4, 6, 3), None), _openai_text(512)),
    "RN101": CLIPConfig(512, VisionConfig(224, 64, (3, 4, 23, 3), None), _openai_text(512)),
    "RN50x4": CLIPConfig(640, VisionConfig(288, 80, (4, 6, 10, 6), None), _openai_text(640)),
    "RN50x16": CLIPConfig(768, VisionConfig(384, 96, (6, 8, 18, 8), None), _openai_text(768)),
    "RN50x64": CLIPConfig(1024, VisionConfig(448, 128, (3, 15, 36, 10), None), _openai_text(1024)),
    "ViT-B/32": CLIPConfig(512, VisionConfig(224, 768, 12, 32), _openai_text(512)),
    "ViT-B/16": CLIPConfig(512, VisionConfig(224, 768, 12, 16), _openai_text(512)),
    "ViT-L/14": CLIPConfig(768, VisionConfig(224, 1024, 24, 14), _openai_text(768)),
    "ViT-L/14@336px": CLIPConfig(768, VisionConfig(336, 1024, 24, 14), _openai_text(768)),
    # Small presets for CPU work (training at >= 50 samples/s on 2 cores).
    "tiny": CLIPConfig(
        256,
        VisionConfig(image_size=64, width=192, layers=4, patch_size=8, heads=3),
        TextConfig(context_length=32, vocab_size=49408, width=128, heads=2, layers=3),
    ),
    "tiny-rn": CLIPConfig(
        256,
        VisionConfig(image_size=64, width=16, layers=(1, 1, 1, 1), patch_size=None, heads=8),
        TextConfig(context_length=32, vocab_size=49408, width=128, heads=2, layers=3),
    ),
}

_ALIASES = {
    "ViT-B-32": "ViT-B/32", "ViT-B-16": "ViT-B/16", "ViT-L-14": "ViT-L/14",
    "ViT-L-14-336": "ViT-L/14@336px", "ViT-L/14@336": "ViT-L/14@336px",
}


def preset_names() -> Tuple[str, ...]:
    """Names accepted by `get_preset`."""
    return tuple(PRESETS)


def get_preset(name: str, **text_overrides: Any) -> CLIPConfig:
    """Named preset (OpenAI or open_clip spelling); keyword args override text fields, e.g. vocab_size."""
    key = _ALIASES.get(name, name)
    if key.endswith("-quickgelu"):
        raise ValueError(
            f"preset {name!r}: the activation is not part of the architecture; "
            f"use {key[:-len('-quickgelu')]!r} and pass activation='quick_gelu' to CLIP")
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    cfg = PRESETS[key]
    if text_overrides:
        cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, **text_overrides))
    return cfg.validate()


def check_activation(activation: Optional[str], source: str = "activation") -> str:
    """Validate an activation name ('gelu' or 'quick_gelu')."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"{source}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation
