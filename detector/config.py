"""Configuration dataclasses of the near-duplicate detector."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

VARIANTS = ("paper", "sscd")
BLOCKS = ("bottleneck", "basic")
POOLINGS = ("gem", "avg")
INPUT_MODES = ("rgb", "luma")
ORBITS = ("none", "hflip", "dihedral")


@dataclass(frozen=True)
class TrunkConfig:
    """Shape of the ResNet trunk: block type, blocks per stage and base width (64 = torchvision)."""

    block: str = "bottleneck"
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    base_width: int = 64

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"TrunkConfig.block must be one of {BLOCKS}, got {self.block!r}")
        if len(self.layers) != 4 or any(int(n) < 1 for n in self.layers):
            raise ValueError(f"TrunkConfig.layers must be 4 positive integers, got {self.layers!r}")
        if self.base_width < 4 or self.base_width % 4:
            raise ValueError(f"TrunkConfig.base_width must be a multiple of 4 >= 4, got {self.base_width}")
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))

    @property
    def out_channels(self) -> int:
        """Channels of the last stage (2048 for ResNet-50)."""
        expansion = 4 if self.block == "bottleneck" else 1
        return self.base_width * 8 * expansion

    @property
    def is_torchvision_resnet50(self) -> bool:
        """Whether this is exactly torchvision's ResNet-50 layout."""
        return self.block == "bottleneck" and self.layers == (3, 4, 6, 3) and self.base_width == 64


RESNET50 = TrunkConfig()
RESNET18 = TrunkConfig(block="basic", layers=(2, 2, 2, 2), base_width=64)
TINY = TrunkConfig(block="basic", layers=(1, 1, 1, 1), base_width=8)
TRUNKS = {"resnet50": RESNET50, "resnet18": RESNET18, "tiny": TINY}


@dataclass(frozen=True)
class DetectorConfig:
    """Everything needed to rebuild a detector: variant, descriptor size, input size, threshold, trunk, input mode.

    `input_mode="luma"` feeds the trunk per-image standardised luminance (one channel) instead of RGB.
    `orbit` averages the descriptor over mirrored (`hflip`) or over all eight mirrored and right-angle
    rotated (`dihedral`) versions of the input, which makes it exactly invariant to those transforms.
    """

    variant: str = "paper"
    dim: int = 512
    input_size: int = 224
    threshold: float | None = None
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    pooling: str = "gem"
    gem_p: float = 3.0
    blur_filter_size: int = 4
    input_mode: str = "rgb"
    orbit: str = "none"

    def __post_init__(self) -> None:
        if self.orbit not in ORBITS:
            raise ValueError(f"DetectorConfig.orbit must be one of {ORBITS}, got {self.orbit!r}")
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"DetectorConfig.input_mode must be one of {INPUT_MODES}, got {self.input_mode!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"DetectorConfig.variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.dim < 1:
            raise ValueError(f"DetectorConfig.dim must be positive, got {self.dim}")
        if self.input_size < 16:
            raise ValueError(f"DetectorConfig.input_size must be >= 16, got {self.input_size}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"DetectorConfig.pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"DetectorConfig.threshold must lie in [-1, 1], got {self.threshold}")
        if isinstance(self.trunk, dict):
            object.__setattr__(self, "trunk", TrunkConfig(**self.trunk))
        if self.blur_filter_size not in (1, 2, 3, 4, 5, 6, 7):
            raise ValueError(f"DetectorConfig.blur_filter_size must be 1..7, got {self.blur_filter_size}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (stored in checkpoint metadata)."""
        d = asdict(self)
        d["trunk"]["layers"] = list(self.trunk.layers)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "DetectorConfig":
        """Rebuild from `to_dict` output; unknown keys are an error naming `source`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown detector config field(s) {sorted(unknown)}")
        data = dict(data)
        if "trunk" in data and isinstance(data["trunk"], dict):
            t = dict(data["trunk"])
            if "layers" in t:
                t["layers"] = tuple(t["layers"])
            data["trunk"] = TrunkConfig(**t)
        return cls(**data)
