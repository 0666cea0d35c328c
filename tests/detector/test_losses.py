from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clip_core.train.toolkit import all_gather_with_grad, world
from detector.losses import LossConfig, detector_loss, entropy_regulariser, info_nce

E = torch.eye(2, dtype=torch.float64)


def test_info_nce_matching_pairs_hand_computed():
    t = 0.07
    expected = math.log1p(math.exp(-1 / t))
    assert info_nce(E, E.clone(), t).item() == pytest.approx(expected, rel=1e-5)


def test_info_nce_swapped_pairs_hand_computed():
    t = 0.5
    expected = math.log1p(math.exp(1 / t))
    assert info_nce(E, E.flip(0), t).item() == pytest.approx(expected, rel=1e-5)


def test_info_nce_asymmetric_case_by_hand():
    t = 1.0
    z1 = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    z2 = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    # z1 @ z2.T = [[0.8, 0.0], [0.96, 0.8]]
    row = (-math.log(math.exp(0.8) / (math.exp(0.8) + 1)) - math.log(math.exp(0.8) / (math.exp(0.96) + math.exp(0.8)))) / 2
    # z2 @ z1.T = [[0.8, 0.96], [0.0, 0.8]]
    col = (-math.log(math.exp(0.8) / (math.exp(0.8) + math.exp(0.96))) - math.log(math.exp(0.8) / (1 + math.exp(0.8)))) / 2
    assert info_nce(z1, z2, t).item() == pytest.approx((row + col) / 2, rel=1e-5)


def test_nt_xent_all_views_hand_computed():
    t = 0.25
    expected = math.log1p(2 * math.exp(-1 / t))
    assert info_nce(E, E.clone(), t, all_views=True).item() == pytest.approx(expected, rel=1e-5)


def test_entropy_regulariser_hand_computed():
    assert entropy_regulariser(E, E.clone()).item() == pytest.approx(-math.log(math.sqrt(2)), rel=1e-4)
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # each view's nearest other-image view is at distance |(1,0) - (0.6,0.8)| = sqrt(0.8)
    assert entropy_regulariser(z, z.clone()).item() == pytest.approx(-math.log(math.sqrt(0.8)), rel=1e-4)


def test_detector_loss_health_metrics_and_weight():
    out = detector_loss(E, E.clone(), LossConfig(temperature=0.07, entropy_weight=10.0))
    assert out.positive_similarity == pytest.approx(1.0)
    assert out.negative_similarity == pytest.approx(0.0)
    assert out.nearest_negative_similarity == pytest.approx(0.0)
    assert out.loss.item() == pytest.approx(out.info_nce.item() + 10.0 * out.entropy.item(), rel=1e-5)


def test_loss_gradient_pulls_pairs_together():
    torch.manual_seed(0)
    a = torch.randn(6, 8, requires_grad=True)
    b = torch.randn(6, 8, requires_grad=True)
    opt = torch.optim.SGD([a, b], lr=0.5)
    first = None
    for _ in range(30):
        loss = detector_loss(F.normalize(a, dim=1), F.normalize(b, dim=1), LossConfig(entropy_weight=1.0)).loss
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_all_gather_is_identity_without_process_group():
    x = torch.randn(3, 4)
    assert world() == (0, 1)
    assert all_gather_with_grad(x) is x


def test_bad_inputs():
    with pytest.raises(ValueError, match="equal shape"):
        info_nce(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="at least 2"):
        info_nce(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="temperature"):
        LossConfig(temperature=0)
