"""Small layers of the detector: anti-aliased downsampling (Zhang 2019), GeM pooling, channel bias, luma input."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_BINOMIAL = {
    1: [1.0],
    2: [1.0, 1.0],
    3: [1.0, 2.0, 1.0],
    4: [1.0, 3.0, 3.0, 1.0],
    5: [1.0, 4.0, 6.0, 4.0, 1.0],
    6: [1.0, 5.0, 10.0, 10.0, 5.0, 1.0],
    7: [1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0],
}


class BlurPool2d(nn.Module):
    """Blur with a fixed binomial filter, then subsample (Zhang 2019, "Making CNNs shift-invariant again")."""

    def __init__(self, channels: int, filter_size: int = 4, stride: int = 2) -> None:
        super().__init__()
        if filter_size not in _BINOMIAL:
            raise ValueError(f"BlurPool2d filter_size must be 1..7, got {filter_size}")
        self.channels = channels
        self.stride = stride
        self.filter_size = filter_size
        self.register_buffer("filt", self.make_filter(), persistent=False)
        lo = (filter_size - 1) // 2
        hi = filter_size - 1 - lo
        self.pad = (lo, hi, lo, hi)

    def make_filter(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The (channels, 1, k, k) normalised binomial filter."""
        a = torch.tensor(_BINOMIAL[self.filter_size], device=device)
        filt = a[:, None] * a[None, :]
        return (filt / filt.sum())[None, None].repeat(self.channels, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reflect-pad, blur per channel, subsample by `stride`."""
        if self.filter_size == 1:
            return x[:, :, :: self.stride, :: self.stride]
        mode = "reflect" if min(x.shape[-2:]) > max(self.pad) else "replicate"
        x = F.pad(x, self.pad, mode=mode)
        return F.conv2d(x, self.filt.to(x.dtype), stride=self.stride, groups=x.shape[1])

    def extra_repr(self) -> str:
        return f"channels={self.channels}, filter_size={self.filter_size}, stride={self.stride}"


class GeM(nn.Module):
    """Generalised-mean pooling with a fixed exponent p (SSCD uses p = 3)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM p must be positive, got {p}")
        self.p = float(p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool (N, C, H, W) to (N, C)."""
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(-2, -1)).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ChannelBias(nn.Module):
    """A learnable per-channel bias: what is left of batch norm once weight normalisation replaces it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the bias to every position."""
        return x + self.bias.view(1, -1, 1, 1).to(x.dtype)


class StandardisedLuma(nn.Module):
    """ImageNet-normalised RGB (N, 3, H, W) to per-image standardised luminance (N, 1, H, W).

    Luma uses the ITU-R 601 weights of Pillow's grayscale conversion, so a grayscale copy gives the
    same input as its colour original; standardising each image (zero mean, unit deviation, `eps`
    in [0, 1] units) removes global brightness and contrast changes, and lifts dark and flat images.
    """

    LUMA = (0.299, 0.587, 0.114)

    def __init__(self, eps: float = 0.01) -> None:
        super().__init__()
        from detector.preprocess import IMAGENET_MEAN, IMAGENET_STD

        w = torch.tensor(self.LUMA) * torch.tensor(IMAGENET_STD)  # luma of the de-normalised image, minus a constant
        self.register_buffer("weight", w.view(1, 3, 1, 1), persistent=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised luminance; the constant offset of de-normalisation cancels in the mean."""
        y = (x * self.weight.to(x.dtype)).sum(dim=1, keepdim=True)
        y = y - y.mean(dim=(-2, -1), keepdim=True)
        return y / (y.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt() + self.eps)
