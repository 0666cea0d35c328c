from __future__ import annotations

import pytest
import torch

from detector import checkpoint as C
from detector.model import build_detector


def _perturbed(config, seed=0):
    torch.manual_seed(seed)
    model = build_detector(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_round_trip_plain_and_folded_half(tmp_path, tiny_config):
    model = _perturbed(tiny_config)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    C.save_detector(model, tmp_path / "a.pt", metadata={"note": "x"})
    loaded = C.load_detector(tmp_path / "a.pt")
    assert loaded.config == tiny_config and loaded.metadata == {"note": "x"}
    assert torch.allclose(loaded(x), expected, atol=1e-5)
    C.save_detector(model, tmp_path / "b.pt", half=True, fold=True)
    small = C.resolve_detector(str(tmp_path / "b.pt"))
    assert (tmp_path / "b.pt").stat().st_size < (tmp_path / "a.pt").stat().st_size
    with torch.no_grad():
        assert (small(x) * expected).sum(dim=1).min() > 0.999


def test_missing_default_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "DEFAULT_WEIGHTS", tmp_path / "weights" / "default.pt")
    with pytest.raises(FileNotFoundError, match="default detector weights are missing"):
        C.resolve_detector("default")


def test_default_loads_from_package_path(tmp_path, monkeypatch, tiny_config):
    monkeypatch.setattr(C, "DEFAULT_WEIGHTS", tmp_path / "default.pt")
    monkeypatch.setattr(C, "DEFAULT_METADATA", tmp_path / "default.json")
    C.save_detector(_perturbed(tiny_config), tmp_path / "default.pt", half=True, fold=True)
    (tmp_path / "default.json").write_text('{"threshold": 0.61, "variant": "paper"}')
    model = C.resolve_detector("default")
    assert model.metadata["threshold"] == 0.61


def test_not_a_checkpoint(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="format"):
        C.load_detector(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError):
        C.load_detector(tmp_path / "y.pt")
