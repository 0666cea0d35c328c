from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import resnet50

from detector.checkpoint import resolve_detector
from detector.layers import GeM
from detector.sscd_loading import load_sscd_torchvision


@pytest.fixture(scope="session")
def sscd_file(tmp_path_factory):
    """A checkpoint in SSCD's released torchvision layout, with non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    net = resnet50(weights=None, num_classes=512).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.0)
    path = tmp_path_factory.mktemp("sscd") / "sscd_disc_mixup.torchvision.pt"
    torch.save({f"backbone.{k}": v for k, v in net.state_dict().items()}, path)
    net.avgpool = GeM(3.0)
    return path, net


def test_loaded_sscd_matches_torchvision_with_gem(sscd_file):
    path, reference = sscd_file
    model = load_sscd_torchvision(path)
    assert model.config.variant == "sscd" and model.config.dim == 512 and model.config.input_size == 320
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = F.normalize(reference(x), dim=-1)
        got = model(x)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(resolve_detector(f"sscd:{path}")(x[:1]), expected[:1], atol=1e-5)


def test_wrong_layout_is_rejected(tmp_path):
    bad = tmp_path / "bad.torchvision.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(ValueError, match="backbone."):
        load_sscd_torchvision(bad)
    wrong_fc = tmp_path / "fc.torchvision.pt"
    torch.save({"backbone.fc.weight": torch.zeros(512, 512)}, wrong_fc)
    with pytest.raises(ValueError, match="2048"):
        load_sscd_torchvision(wrong_fc)
    partial = tmp_path / "partial.torchvision.pt"
    torch.save({"backbone.fc.weight": torch.zeros(256, 2048), "backbone.fc.bias": torch.zeros(256)}, partial)
    with pytest.raises(ValueError, match="missing"):
        load_sscd_torchvision(partial)
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_sscd_torchvision(tmp_path / "nothere.pt")
