"""Zero-shot scoring of precomputed image features against text prompts (CLIP's prompt classifier)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from clip_core.zeroshot import LOGIT_SCALE, build_classifier


def prompt_logits(model, normalized_features: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """Logits [N, len(prompts)] = 100 * cosine similarity of each image to each (filled) prompt."""
    if len(prompts) == 0:
        raise ValueError("no prompts to score")
    was_training = model.training
    model.eval()
    try:
        classifier = build_classifier(model, list(prompts), ["{}"])
    finally:
        model.train(was_training)
    features = torch.from_numpy(np.ascontiguousarray(normalized_features, dtype=np.float32)).to(classifier.device)
    return (LOGIT_SCALE * features @ classifier).cpu().numpy()


def prompt_probabilities(model, normalized_features: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """Softmax over the prompts of the zero-shot logits, [N, len(prompts)]."""
    logits = torch.from_numpy(prompt_logits(model, normalized_features, prompts)).double()
    return torch.softmax(logits, dim=1).numpy()
