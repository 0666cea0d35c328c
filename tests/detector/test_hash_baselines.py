from __future__ import annotations

import numpy as np
import pytest

from detector.hash_baselines import HASH_METHODS, hamming_distances, hash_images, hash_scores
from tests.detector.conftest import make_image


def test_hamming_hand_computed():
    q = np.array([[0b00000000] * 8, [0xFF] * 8], dtype=np.uint8)
    r = np.array([[0b00000011] + [0] * 7], dtype=np.uint8)
    assert hamming_distances(q, r).tolist() == [[2], [62]]
    assert hash_scores(q, r).tolist() == [[-2.0], [-62.0]]


@pytest.mark.parametrize("method", HASH_METHODS)
def test_hash_identical_and_resized_close_unrelated_far(method):
    a, b = make_image(1, (128, 96)), make_image(2, (128, 96))
    hashes = hash_images([a, a.resize((64, 48)), b], method)
    assert hashes.shape == (3, 8) and hashes.dtype == np.uint8
    d = hamming_distances(hashes, hashes)
    assert d[0, 0] == 0 and d[0, 1] <= 8 and d[0, 2] > d[0, 1]


def test_bad_method_and_shapes():
    with pytest.raises(ValueError, match="unknown hash method"):
        hash_images([make_image(0)], "md5")
    with pytest.raises(ValueError, match="packed hashes"):
        hamming_distances(np.zeros((2, 8), np.uint8), np.zeros((2, 4), np.uint8))
