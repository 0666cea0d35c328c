"""Shared fixtures of the detector tests: tiny trunks, one ResNet-50, small images."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from detector.config import TINY, DetectorConfig
from detector.model import Detector, build_detector


@pytest.fixture(scope="session")
def tiny_config() -> DetectorConfig:
    return DetectorConfig(variant="paper", dim=32, input_size=32, trunk=TINY)


@pytest.fixture(scope="session")
def tiny_paper(tiny_config: DetectorConfig) -> Detector:
    torch.manual_seed(0)
    return build_detector(tiny_config).eval()


@pytest.fixture(scope="session")
def tiny_sscd() -> Detector:
    torch.manual_seed(0)
    return build_detector(DetectorConfig(variant="sscd", dim=32, input_size=32, trunk=TINY)).eval()


@pytest.fixture(scope="session")
def resnet50_paper() -> Detector:
    torch.manual_seed(0)
    return build_detector(DetectorConfig()).eval()


def make_image(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A smooth random colour image with some structure (gradients plus blobs)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b, f = rng.uniform(-1, 1, 3)
        img[..., c] = 0.5 + 0.3 * np.sin(6 * f * xx + a) * np.cos(6 * b * yy)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        img[mask] = rng.uniform(0, 1, 3)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="RGB")


@pytest.fixture
def image_folder(tmp_path):
    """A folder of 12 small PNGs (id = file name) and one corrupt file."""
    root = tmp_path / "images"
    root.mkdir()
    for i in range(12):
        make_image(i).save(root / f"img{i:02d}.png")
    (root / "broken.png").write_bytes(b"not a png at all")
    return root


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other tests for the two cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
