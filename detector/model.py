"""The near-duplicate detector: a ResNet trunk, GeM pooling, a linear head and L2 normalisation."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detector.config import DetectorConfig
from torch.nn.utils import parametrize

from detector.layers import BlurPool2d, GeM, StandardisedLuma
from detector.trunk import build_resnet, convert_to_paper, fold_weight_norm


class Detector(nn.Module):
    """Image batch (N, 3, H, W), ImageNet-normalised, to L2-normalised descriptors (N, dim).

    Parameters live under `backbone.` with torchvision key names, so SSCD's released
    `*.torchvision.pt` files load directly into the `sscd` variant.
    """

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        backbone = build_resnet(config.trunk, num_classes=config.dim, zero_init_residual=True)
        self.luma = StandardisedLuma() if config.input_mode == "luma" else None
        if self.luma is not None:
            c = backbone.conv1
            backbone.conv1 = nn.Conv2d(1, c.out_channels, c.kernel_size, c.stride, c.padding, bias=False)
            nn.init.kaiming_normal_(backbone.conv1.weight, mode="fan_out", nonlinearity="relu")
        if config.variant == "paper":
            backbone = convert_to_paper(backbone, filter_size=config.blur_filter_size)
        backbone.avgpool = GeM(config.gem_p) if config.pooling == "gem" else nn.AdaptiveAvgPool2d((1, 1))
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Descriptors with unit L2 norm, in float32."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Detector expects images of shape (N, 3, H, W), got {tuple(images.shape)}")
        x = self.luma(images) if self.luma is not None else images
        views = orbit_views(x, self.config.orbit)
        out = self.backbone(torch.cat(views) if len(views) > 1 else x)
        if len(views) > 1:
            out = out.float().view(len(views), x.shape[0], -1).sum(dim=0)
        return F.normalize(out.float(), dim=-1)

    def folded_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict with every weight-normalised weight computed into a plain `weight` entry."""
        state = {k: v for k, v in self.state_dict().items() if ".parametrizations." not in k}
        for name, module in self.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.weight.detach().clone()
        return state

    def folded_copy(self) -> "Detector":
        """A new eval-mode detector with the same weights and weight norm folded (this one is untouched).

        Built on the meta device and filled by assignment, so no time goes into random initialisation.
        (Deep-copying and then folding would break this model: parametrised modules share their
        injected class with their deep copies.)
        """
        with torch.device("meta"):
            new = Detector(self.config)
        new.fold_for_inference()
        new.load_state_dict(self.folded_state_dict(), assign=True)
        device = next(self.parameters()).device
        for module in new.modules():
            if isinstance(module, BlurPool2d):
                module.filt = module.make_filter(device)
        if new.luma is not None:
            new.luma = StandardisedLuma(new.luma.eps).to(device)
        new.metadata = dict(getattr(self, "metadata", {}))  # type: ignore[attr-defined]
        return new.eval()

    def fold_for_inference(self) -> "Detector":
        """Fold weight normalisation into plain weights and switch to eval mode."""
        fold_weight_norm(self)
        return self.eval()


def orbit_views(x: torch.Tensor, orbit: str) -> list[torch.Tensor]:
    """The input under every element of the symmetry group `orbit` (none, hflip or dihedral)."""
    if orbit == "none":
        return [x]
    if orbit == "hflip":
        return [x, x.flip(-1)]
    if orbit == "dihedral":
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"orbit 'dihedral' needs square inputs, got {tuple(x.shape[-2:])}")
        turns = [x if k == 0 else torch.rot90(x, k, dims=(-2, -1)) for k in range(4)]
        return turns + [t.flip(-1) for t in turns]
    raise ValueError(f"unknown orbit {orbit!r}")


def build_detector(config: DetectorConfig | None = None) -> Detector:
    """Build a randomly initialised detector from its configuration (ResNet-50 `paper` by default)."""
    return Detector(config or DetectorConfig())


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
