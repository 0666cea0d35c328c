"""The near-duplicate detector: a ResNet trunk, GeM pooling, a linear head and L2 normalisation."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detector.config import DetectorConfig
from torch.nn.utils import parametrize

from detector.layers import BlurPool2d, GeM
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
        if config.variant == "paper":
            backbone = convert_to_paper(backbone, filter_size=config.blur_filter_size)
        backbone.avgpool = GeM(config.gem_p) if config.pooling == "gem" else nn.AdaptiveAvgPool2d((1, 1))
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Descriptors with unit L2 norm, in float32."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Detector expects images of shape (N, 3, H, W), got {tuple(images.shape)}")
        out = self.backbone(images)
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
        new.metadata = dict(getattr(self, "metadata", {}))  # type: ignore[attr-defined]
        return new.eval()

    def fold_for_inference(self) -> "Detector":
        """Fold weight normalisation into plain weights and switch to eval mode."""
        fold_weight_norm(self)
        return self.eval()


def build_detector(config: DetectorConfig | None = None) -> Detector:
    """Build a randomly initialised detector from its configuration (ResNet-50 `paper` by default)."""
    return Detector(config or DetectorConfig())


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
