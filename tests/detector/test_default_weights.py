"""The shipped default detector (detector/weights/default.pt): loads, fp16 within 50 MB, unit descriptors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from detector.checkpoint import DEFAULT_METADATA, DEFAULT_WEIGHTS, load_default_detector, resolve_detector
from detector.embed import DescriptorRunner
from tests.detector.conftest import make_image

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="detector/weights/default.pt not trained yet")


def test_default_weights_are_fp16_and_small():
    assert DEFAULT_WEIGHTS.stat().st_size <= 50 * 2**20
    payload = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    assert payload["dtype"] == "float16" and payload["folded"] is True
    floats = [v for v in payload["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)


def test_default_metadata_matches_the_weights():
    meta = json.loads(DEFAULT_METADATA.read_text(encoding="utf-8"))
    model = load_default_detector()
    assert meta["variant"] == model.config.variant
    assert meta["input_size"] == model.config.input_size and meta["dim"] == model.config.dim
    assert meta["threshold"] is None or -1.0 <= meta["threshold"] <= 1.0
    assert model.metadata["threshold"] == meta["threshold"]


def test_default_detector_gives_unit_descriptors_that_match_a_copy():
    model = resolve_detector("default")
    images = [make_image(seed, (128, 96)) for seed in range(3)]
    images.append(images[0].resize((64, 48), Image.Resampling.BILINEAR))  # a downscaled copy of the first image
    d = DescriptorRunner(model, "cpu").embed_images(images, batch_size=4)
    assert d.shape == (4, model.config.dim)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-4)
    sims = d @ d.T
    assert sims[0, 3] > max(sims[1, 3], sims[2, 3])
