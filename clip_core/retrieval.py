"""Image <-> text retrieval recall@k, as CLIP_benchmark computes it.

- ``retrieval_recall(image_features, text_features, text_to_image, ks)`` -> dict with
  ``image_retrieval_recall@k`` (each caption queries the images: a hit if its image is in the top k)
  and ``text_retrieval_recall@k`` (each image queries the captions: a hit if any of its captions is
  in the top k). Scores are dot products of L2-normalised features.
- ``evaluate_retrieval(model, items, ks)``: items are (image, [captions...]); encodes and scores them.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import torch
import torch.nn.functional as F

DEFAULT_KS = (1, 5, 10)


def positive_matrix(text_to_image: Sequence[int], num_images: int) -> torch.Tensor:
    """Boolean [num_texts, num_images]: True where caption t describes image i."""
    idx = torch.as_tensor(list(text_to_image), dtype=torch.long)
    if idx.numel() and (idx.min() < 0 or idx.max() >= num_images):
        raise ValueError(f"text_to_image indices must lie in [0, {num_images}), got {idx.min()}..{idx.max()}")
    pos = torch.zeros(len(idx), num_images, dtype=torch.bool)
    pos[torch.arange(len(idx)), idx] = True
    return pos


def _recall_at_k(scores: torch.Tensor, positives: torch.Tensor, k: int) -> float:
    """Fraction of query rows with at least one positive among their top-k columns."""
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return float(positives.gather(1, top).any(dim=1).float().mean())


def retrieval_recall(image_features: torch.Tensor, text_features: torch.Tensor, text_to_image: Sequence[int],
                     ks: Iterable[int] = DEFAULT_KS) -> Dict[str, float]:
    """image_retrieval_recall@k and text_retrieval_recall@k for every k."""
    if image_features.dim() != 2 or text_features.dim() != 2 or image_features.shape[1] != text_features.shape[1]:
        raise ValueError(f"features must be [N_img, D] and [N_txt, D], got {tuple(image_features.shape)} and "
                         f"{tuple(text_features.shape)}")
    if len(text_to_image) != text_features.shape[0]:
        raise ValueError(f"text_to_image has {len(text_to_image)} entries for {text_features.shape[0]} captions")
    if image_features.shape[0] == 0 or text_features.shape[0] == 0:
        raise ValueError("retrieval needs at least one image and one caption")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"recall k values must be >= 1, got {ks}")
    img = F.normalize(image_features.float(), dim=-1)
    txt = F.normalize(text_features.float(), dim=-1)
    scores = txt @ img.t()  # [T, I]
    pos = positive_matrix(text_to_image, img.shape[0])
    out: Dict[str, float] = {}
    for k in ks:
        out[f"image_retrieval_recall@{k}"] = _recall_at_k(scores, pos, k)
        out[f"text_retrieval_recall@{k}"] = _recall_at_k(scores.t(), pos.t(), k)
    return out


@torch.no_grad()
def encode_pairs(model, items: Iterable[Tuple[object, Sequence[str]]],
                 batch_size: int = 64) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """(image features, caption features, caption -> image index) of (PIL image, captions) items."""
    transform = model.preprocess(train=False)
    device = model.logit_scale.device
    was_training = model.training
    model.eval()
    images: List[torch.Tensor] = []
    captions: List[str] = []
    text_to_image: List[int] = []
    try:
        for i, (image, caps) in enumerate(items):
            caps = [caps] if isinstance(caps, str) else list(caps)
            if not caps:
                raise ValueError(f"retrieval item {i} has no caption")
            images.append(transform(image))
            captions.extend(caps)
            text_to_image.extend([i] * len(caps))
        if not images:
            raise ValueError("retrieval: no items")
        img = torch.cat([model.encode_image(torch.stack(images[a:a + batch_size]).to(device)).float().cpu()
                         for a in range(0, len(images), batch_size)])
        txt = torch.cat([model.encode_text(model.tokenize(captions[a:a + batch_size]).to(device)).float().cpu()
                         for a in range(0, len(captions), batch_size)])
    finally:
        model.train(was_training)
    return img, txt, text_to_image


def evaluate_retrieval(model, items: Iterable[Tuple[object, Sequence[str]]], ks: Iterable[int] = DEFAULT_KS,
                       batch_size: int = 64) -> Dict[str, float]:
    """Encode (image, captions) items with `model` and return their retrieval recall@k."""
    img, txt, t2i = encode_pairs(model, items, batch_size)
    return retrieval_recall(img, txt, t2i, ks)
