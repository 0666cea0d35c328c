"""ResNet trunks built from torchvision, and the paper variant's conversion (blur pooling, weight norm, GELU)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm
from torchvision.models import resnet as tv_resnet

from detector.config import TrunkConfig
from detector.layers import BlurPool2d, ChannelBias


class ScaledResNet(tv_resnet.ResNet):
    """torchvision's ResNet with a configurable base width (64 reproduces torchvision exactly)."""

    def __init__(self, trunk: TrunkConfig, num_classes: int = 1000, zero_init_residual: bool = False) -> None:
        nn.Module.__init__(self)
        block = tv_resnet.Bottleneck if trunk.block == "bottleneck" else tv_resnet.BasicBlock
        w = trunk.base_width
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = w
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # torchvision's width_per_group; widths scale through `planes` instead
        self.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, w, trunk.layers[0])
        self.layer2 = self._make_layer(block, 2 * w, trunk.layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * w, trunk.layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * w, trunk.layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, tv_resnet.Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, tv_resnet.BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)


def build_resnet(trunk: TrunkConfig, num_classes: int, zero_init_residual: bool) -> tv_resnet.ResNet:
    """torchvision `resnet50` for the default trunk, else a width/depth-scaled torchvision ResNet."""
    if trunk.is_torchvision_resnet50:
        return tv_resnet.resnet50(weights=None, num_classes=num_classes, zero_init_residual=zero_init_residual)
    return ScaledResNet(trunk, num_classes=num_classes, zero_init_residual=zero_init_residual)


def _replace_batch_norms(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, ChannelBias(child.num_features))
        else:
            _replace_batch_norms(child)


def _last_branch_conv(block: nn.Module) -> nn.Conv2d:
    conv = block.conv3 if isinstance(block, tv_resnet.Bottleneck) else block.conv2
    return conv[-1] if isinstance(conv, nn.Sequential) else conv


def convert_to_paper(net: tv_resnet.ResNet, filter_size: int = 4) -> tv_resnet.ResNet:
    """Turn a torchvision ResNet into the paper's trunk: blur-pooled downsampling, weight norm, GELU.

    Strided convolutions and max pooling are replaced as in Zhang 2019 (antialiased-cnns): the stem's
    max pool becomes MaxPool(2, stride 1) + BlurPool, a stride-2 block does its 3x3 convolution at
    stride 1 and blurs before the next convolution, and the shortcut blurs before its 1x1 convolution.
    Batch norm becomes a per-channel bias and every convolution is weight-normalised; the last
    convolution of each residual branch starts with gain 0 (the residual branch starts as zero).
    """
    net.maxpool = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=1), BlurPool2d(net.conv1.out_channels, filter_size, 2))
    net.relu = nn.GELU()
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in stage:
            block.relu = nn.GELU()
            if block.stride != 1:
                if isinstance(block, tv_resnet.Bottleneck):
                    block.conv2.stride = (1, 1)
                    block.conv3 = nn.Sequential(BlurPool2d(block.conv3.in_channels, filter_size, 2), block.conv3)
                else:
                    block.conv1.stride = (1, 1)
                    block.conv2 = nn.Sequential(BlurPool2d(block.conv2.in_channels, filter_size, 2), block.conv2)
            if block.downsample is not None:
                conv, norm = block.downsample[0], block.downsample[1]
                stride = conv.stride[0]
                conv.stride = (1, 1)
                parts = [conv, norm] if stride == 1 else [BlurPool2d(conv.in_channels, filter_size, stride), conv, norm]
                block.downsample = nn.Sequential(*parts)
    _replace_batch_norms(net)
    last_convs = {id(_last_branch_conv(b)) for s in (net.layer1, net.layer2, net.layer3, net.layer4) for b in s}
    for module in list(net.modules()):
        if isinstance(module, nn.Conv2d):
            weight_norm(module, name="weight", dim=0)
            if id(module) in last_convs:
                with torch.no_grad():
                    module.parametrizations.weight.original0.zero_()
    return net


def fold_weight_norm(net: nn.Module) -> nn.Module:
    """Replace weight-norm parametrisations by plain weights (same outputs, faster inference)."""
    for module in net.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return net
