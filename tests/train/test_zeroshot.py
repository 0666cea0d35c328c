"""Zero-shot classifier construction and metrics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from clip_core.zeroshot import build_classifier, metrics_from_logits


class _FakeTextModel:
    """encode_text returns a fixed vector per prompt so the classifier can be computed by hand."""

    def __init__(self, table):
        self.table = table
        self.logit_scale = torch.zeros([])
        self.prompts = []

    def tokenize(self, texts):
        self.prompts.extend(texts)
        return torch.tensor([[len(self.prompts) - len(texts) + i] for i in range(len(texts))])

    def encode_text(self, tokens, normalize=False):
        x = torch.stack([self.table[self.prompts[int(i)]] for i in tokens[:, 0]])
        return F.normalize(x, dim=-1) if normalize else x


def test_classifier_normalises_averages_renormalises():
    table = {"a cat": torch.tensor([10.0, 0.0]), "the cat": torch.tensor([0.0, 1.0]),
             "a dog": torch.tensor([3.0, 4.0]), "the dog": torch.tensor([3.0, 4.0])}
    clf = build_classifier(_FakeTextModel(table), ["cat", "dog"], ["a {}", "the {}"])
    assert clf.shape == (2, 2)
    s = 2 ** -0.5  # mean of unit vectors (1,0) and (0,1), renormalised; unnormalised mean would tilt to x
    torch.testing.assert_close(clf[:, 0], torch.tensor([s, s]))
    torch.testing.assert_close(clf[:, 1], torch.tensor([0.6, 0.8]))


def test_metrics_by_hand():
    logits = torch.tensor([
        [9.0, 1, 2, 3, 4, 5, 0],   # label 0: top1 hit
        [9.0, 1, 2, 3, 4, 5, 0],   # label 5: top5 hit only
        [9.0, 1, 2, 3, 4, 5, 0],   # label 6: miss
        [0.0, 9, 0, 0, 0, 0, 0],   # label 1: top1 hit
    ])
    labels = torch.tensor([0, 5, 6, 1])
    m = metrics_from_logits(logits, labels)
    assert m["acc1"] == pytest.approx(0.5)
    assert m["acc5"] == pytest.approx(0.75)
    assert m["mean_per_class_recall"] == pytest.approx((1 + 0 + 0 + 1) / 4)


def test_mean_per_class_recall_differs_from_acc1_when_unbalanced():
    logits = torch.tensor([[1.0, 0.0]] * 3 + [[1.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1])
    m = metrics_from_logits(logits, labels)
    assert m["acc1"] == pytest.approx(0.75) and m["mean_per_class_recall"] == pytest.approx(0.5)
    assert m["acc5"] == 1.0  # only 2 classes: top-k uses k = min(5, C)


def test_empty_inputs_rejected():
    with pytest.raises(ValueError):
        metrics_from_logits(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="class names"):
        build_classifier(_FakeTextModel({}), [], ["a {}"])
