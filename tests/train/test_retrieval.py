"""Image <-> text recall@k on hand-checked similarity layouts."""
from __future__ import annotations

import pytest
import torch

from clip_core.retrieval import evaluate_retrieval, positive_matrix, retrieval_recall


def unit(*angles_deg):
    """2-D unit vectors at the given angles."""
    a = torch.tensor(angles_deg, dtype=torch.float32) * torch.pi / 180
    return torch.stack([a.cos(), a.sin()], dim=1)


def test_hand_checked_recall():
    # images at 0, 90, 180 degrees; image 0 has two captions (at 10 and 100 deg), image 1 one (at 80),
    # image 2 one (at 265: nearest image is 180, then 270 -> none, then 90... order 180, 90, 0)
    images = unit(0, 90, 180)
    texts = unit(10, 100, 80, 265)
    t2i = [0, 0, 1, 2]
    r = retrieval_recall(images, texts, t2i, ks=(1, 2))
    # caption -> images. top1: 10->0 hit, 100->1 miss, 80->1 hit, 265->180(2) hit  => 3/4
    # top2: 100 -> {1 (10 deg away), 2 (80 deg)} miss, others hit => 3/4
    assert r["image_retrieval_recall@1"] == pytest.approx(3 / 4)
    assert r["image_retrieval_recall@2"] == pytest.approx(3 / 4)
    # image -> captions. image 0: nearest caption 10 (its own) hit; image 1 (90): nearest 80 or 100 (both 10 deg:
    # cos equal) -> 80 is its own, 100 is not; image 2 (180): nearest 265 (85 deg) vs 100 (80 deg) -> 100 miss.
    # top2 for image 2: {100, 265} -> hit.
    r1 = r["text_retrieval_recall@1"]
    assert r1 in (pytest.approx(1 / 3), pytest.approx(2 / 3))  # image 1 is an exact tie
    assert r["text_retrieval_recall@2"] == pytest.approx(1.0)


def test_any_positive_counts_and_k_is_capped():
    images = torch.eye(3)
    texts = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # caption 0 describes image 0 but points at image 1; caption 1 also describes image 0 and points at it
    r = retrieval_recall(images, texts, [0, 0, 2], ks=(1, 3, 50))
    assert r["image_retrieval_recall@1"] == pytest.approx(2 / 3)
    assert r["text_retrieval_recall@1"] == pytest.approx(2 / 3)  # image 1 has no captions: always a miss
    assert r["image_retrieval_recall@3"] == 1.0
    assert r["text_retrieval_recall@50"] == pytest.approx(2 / 3)


def test_perfect_and_reversed_orders():
    feats = torch.randn(6, 8)
    perfect = retrieval_recall(feats, feats * 3.0, list(range(6)), ks=(1,))
    assert perfect == {"image_retrieval_recall@1": 1.0, "text_retrieval_recall@1": 1.0}
    shuffled = retrieval_recall(torch.eye(4), torch.eye(4), [1, 2, 3, 0], ks=(1, 4))
    assert shuffled["image_retrieval_recall@1"] == 0.0 and shuffled["image_retrieval_recall@4"] == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="text_to_image"):
        retrieval_recall(torch.eye(3), torch.eye(3), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        positive_matrix([0, 3], 3)
    with pytest.raises(ValueError, match="k values"):
        retrieval_recall(torch.eye(3), torch.eye(3), [0, 1, 2], ks=(0,))


def test_evaluate_retrieval_with_model():
    from PIL import Image

    from clip_core.train import TrainConfig
    from clip_core.train.trainer import build_model
    model = build_model(TrainConfig(seed=0))
    items = [(Image.new("RGB", (32, 32), c), [f"a {c} square", f"{c}"]) for c in ("red", "green", "blue")]
    r = evaluate_retrieval(model, items, ks=(1, 5))
    assert set(r) == {"image_retrieval_recall@1", "text_retrieval_recall@1", "image_retrieval_recall@5",
                      "text_retrieval_recall@5"}
    assert r["image_retrieval_recall@5"] == 1.0 and r["text_retrieval_recall@5"] == 1.0  # k >= #items
