from __future__ import annotations

import pytest
import torch
from torch import nn

from detector.config import RESNET18, TINY, DetectorConfig, TrunkConfig
from detector.layers import BlurPool2d, ChannelBias, GeM
from detector.model import build_detector


def test_resnet50_default_shapes_and_norm(resnet50_paper):
    assert resnet50_paper.config.trunk.is_torchvision_resnet50
    assert resnet50_paper.config.dim == 512
    with torch.no_grad():
        out = resnet50_paper(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 512)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert resnet50_paper.backbone.fc.in_features == 2048


def test_paper_variant_has_no_batch_norm_and_uses_blur_and_gelu(tiny_paper):
    mods = list(tiny_paper.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in mods)
    assert not any(isinstance(m, nn.ReLU) for m in mods)
    assert any(isinstance(m, nn.GELU) for m in mods)
    assert sum(isinstance(m, BlurPool2d) for m in mods) >= 4
    assert any(isinstance(m, ChannelBias) for m in mods)
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    assert convs and all(hasattr(c, "parametrizations") for c in convs)
    assert all(c.stride == (1, 1) for c in convs[1:])  # only the stem convolution strides
    assert isinstance(tiny_paper.backbone.avgpool, GeM)


def test_sscd_variant_is_torchvision_layout(tiny_sscd):
    assert any(isinstance(m, nn.BatchNorm2d) for m in tiny_sscd.modules())
    assert isinstance(tiny_sscd.backbone.avgpool, GeM) and tiny_sscd.backbone.avgpool.p == 3.0
    assert tiny_sscd.backbone.fc.out_features == 32
    assert tiny_sscd.backbone.fc.bias is not None
    # zero-init residual: the last norm of every residual branch starts at zero
    for stage in (tiny_sscd.backbone.layer1, tiny_sscd.backbone.layer4):
        assert torch.all(stage[0].bn2.weight == 0)


@pytest.mark.parametrize("variant", ["paper", "sscd"])
@pytest.mark.parametrize("dim", [16, 64])
def test_descriptor_size_configurable_and_normalised(variant, dim):
    model = build_detector(DetectorConfig(variant=variant, dim=dim, input_size=32, trunk=TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, 32, 40))
    assert out.shape == (3, dim)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_distinct_images_give_distinct_descriptors(tiny_paper):
    torch.manual_seed(1)
    with torch.no_grad():
        out = tiny_paper(torch.randn(4, 3, 32, 32))
    sims = out @ out.T
    assert (sims - torch.eye(4)).abs().max() > 1e-4
    assert torch.isfinite(out).all()


def test_fold_weight_norm_keeps_outputs(tiny_config):
    torch.manual_seed(2)
    model = build_detector(tiny_config).eval()
    for p in model.parameters():  # leave the zero-gain initialisation so every layer matters
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        copy = model.folded_copy()
        assert torch.allclose(copy(x), before, atol=1e-5)
        assert torch.allclose(model(x), before)  # the original keeps working, unfolded
        assert not any(b.is_meta for b in copy.buffers())
        model.fold_for_inference()
        after = model(x)
    assert not any(hasattr(m, "parametrizations") for m in model.modules() if isinstance(m, nn.Conv2d))
    assert torch.allclose(before, after, atol=1e-5)


def test_paper_gradients_reach_the_stem(tiny_config):
    torch.manual_seed(3)
    model = build_detector(tiny_config)
    out = model(torch.randn(4, 3, 32, 32))
    (out[:, 0] - out[:, 1]).sum().backward()
    g = model.backbone.conv1.parametrizations.weight.original1.grad
    assert g is not None and g.abs().sum() > 0


def test_resnet18_trunk_is_smaller():
    small = build_detector(DetectorConfig(trunk=RESNET18, input_size=32))
    assert small.backbone.fc.in_features == 512


def test_blurpool_shape_and_constant_preserved():
    pool = BlurPool2d(3, filter_size=4, stride=2)
    x = torch.full((1, 3, 9, 10), 2.5)
    y = pool(x)
    assert y.shape == (1, 3, 5, 5)
    assert torch.allclose(y, torch.full_like(y, 2.5))


def test_gem_matches_hand_computation():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = ((1 + 8 + 27 + 64) / 4) ** (1 / 3)
    assert GeM(3.0)(x).item() == pytest.approx(expected, rel=1e-5)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        DetectorConfig(variant="vit")
    with pytest.raises(ValueError, match="layers"):
        TrunkConfig(layers=(1, 2, 3))
    with pytest.raises(ValueError, match="threshold"):
        DetectorConfig(threshold=1.5)


def test_config_round_trip():
    cfg = DetectorConfig(variant="sscd", dim=128, input_size=160, threshold=0.6, trunk=TINY)
    assert DetectorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        DetectorConfig.from_dict({"variant": "paper", "colour": 1})


def test_wrong_input_shape():
    model = build_detector(DetectorConfig(trunk=TINY, dim=8, input_size=32))
    with pytest.raises(ValueError, match="N, 3, H, W"):
        model(torch.randn(3, 32, 32))


def test_luma_input_ignores_grayscale_brightness_and_contrast():
    from PIL import ImageEnhance, ImageOps

    from detector.preprocess import images_to_tensor
    from tests.detector.conftest import make_image

    torch.manual_seed(0)
    model = build_detector(DetectorConfig(trunk=TINY, dim=16, input_size=32, input_mode="luma")).eval()
    assert model.backbone.conv1.in_channels == 1
    img = make_image(3, (32, 32))
    variants = [ImageOps.grayscale(img).convert("RGB"), ImageEnhance.Brightness(img).enhance(0.7),
                ImageEnhance.Contrast(img).enhance(0.6)]
    def trunk_input(im):
        return model.luma(images_to_tensor([im], 32))

    ref = trunk_input(img)
    for v in variants:  # 8-bit rounding is the only difference the trunk sees
        assert (trunk_input(v) - ref).abs().mean() < 0.05
    assert (trunk_input(make_image(4, (32, 32))) - ref).abs().mean() > 0.3
    with torch.no_grad():
        ref = model(images_to_tensor([img], 32))
    folded = model.folded_copy()
    with torch.no_grad():
        assert torch.allclose(folded(images_to_tensor([img], 32)), ref, atol=1e-5)


def test_standardised_luma_by_hand():
    from detector.layers import StandardisedLuma
    from detector.preprocess import IMAGENET_MEAN, IMAGENET_STD

    rgb = torch.rand(2, 3, 5, 4)
    x = (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    y = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    y = y - y.mean(dim=(-2, -1), keepdim=True)
    expected = y / (y.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt() + 0.01)
    assert torch.allclose(StandardisedLuma()(x)[:, 0], expected, atol=1e-5)


def test_input_mode_round_trip_and_validation():
    cfg = DetectorConfig(dim=8, input_size=32, trunk=TINY, input_mode="luma")
    assert DetectorConfig.from_dict(cfg.to_dict()) == cfg
    assert DetectorConfig.from_dict({"dim": 8}).input_mode == "rgb"  # configs written before the field
    with pytest.raises(ValueError, match="input_mode"):
        DetectorConfig(input_mode="hsv")


@pytest.mark.parametrize("orbit", ["hflip", "dihedral"])
def test_orbit_averaging_makes_descriptors_exactly_invariant(orbit):
    torch.manual_seed(0)
    plain = build_detector(DetectorConfig(trunk=TINY, dim=16, input_size=32, input_mode="luma")).eval()
    model = build_detector(DetectorConfig(trunk=TINY, dim=16, input_size=32, input_mode="luma", orbit=orbit)).eval()
    model.load_state_dict(plain.state_dict())
    with torch.no_grad():  # a trained-looking trunk: perturb the zero-initialised branches
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 3, 32, 32)
    moved = [x.flip(-1)] + ([torch.rot90(x, 1, dims=(-2, -1)), x.flip(-2), torch.rot90(x, 3, dims=(-2, -1)).flip(-1)]
                            if orbit == "dihedral" else [])
    with torch.no_grad():
        ref = model(x)
        for m in moved:
            assert torch.allclose(model(m), ref, atol=1e-5)
        model.load_state_dict(model.state_dict())
        plain.load_state_dict(model.state_dict())
        assert not torch.allclose(plain(x.flip(-1)), plain(x), atol=1e-3)  # the trunk alone is not invariant
    if orbit == "dihedral":
        with pytest.raises(ValueError, match="square"):
            model(torch.randn(1, 3, 32, 40))
    with pytest.raises(ValueError, match="orbit"):
        DetectorConfig(orbit="c4")
