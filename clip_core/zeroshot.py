"""Zero-shot classification: prompt-ensemble classifier, acc1 / acc5 / mean_per_class_recall, per-example predictions.

- ``build_classifier(model, classnames, templates)`` -> [embed_dim, num_classes]: each prompt embedding
  L2-normalised, averaged over templates, renormalised.
- ``zero_shot_logits(model, images, classifier)`` -> 100 * normalised image features @ classifier.
- ``metrics_from_logits(logits, labels)`` -> {"acc1", "acc5", "mean_per_class_recall"}.
- ``evaluate_zero_shot(model, dataset, batch_size=64)`` -> ``ZeroShotResult`` (metrics + predictions).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

LOGIT_SCALE = 100.0


@torch.no_grad()
def build_classifier(model, classnames: Sequence[str], templates: Sequence[str],
                     batch_size: int = 256) -> torch.Tensor:
    """Zero-shot weights [embed_dim, num_classes] from class names x templates (normalise, average, renormalise)."""
    if not classnames:
        raise ValueError("zero-shot classifier: no class names")
    if not templates:
        raise ValueError("zero-shot classifier: no prompt templates")
    columns = []
    for name in classnames:
        prompts = [t.format(name) if "{" in t else f"{t} {name}" for t in templates]
        feats = []
        for i in range(0, len(prompts), batch_size):
            tokens = model.tokenize(prompts[i:i + batch_size]).to(model.logit_scale.device)
            feats.append(model.encode_text(tokens, normalize=True).float())
        mean = torch.cat(feats).mean(dim=0)
        columns.append(F.normalize(mean, dim=-1))
    return torch.stack(columns, dim=1)


@torch.no_grad()
def zero_shot_logits(model, images: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """Logits [N, C] = 100 * L2-normalised image features @ classifier."""
    feats = model.encode_image(images.to(classifier.device), normalize=True).float()
    return LOGIT_SCALE * feats @ classifier


def metrics_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    """acc1, acc5 (top-min(5, C)) and mean per-class recall of logits [N, C] against integer labels [N]."""
    if logits.dim() != 2 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"logits must be [N, C] matching labels [N], got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("no examples to score")
    num_classes = logits.shape[1]
    k = min(5, num_classes)
    topk = logits.topk(k, dim=1).indices
    hits = topk == labels[:, None]
    n = logits.shape[0]
    acc1 = int(hits[:, 0].sum()) / n
    acc5 = int(hits.any(dim=1).sum()) / n
    pred = topk[:, 0]
    recalls = []
    for c in labels.unique().tolist():
        mask = labels == c
        recalls.append(int((pred[mask] == c).sum()) / int(mask.sum()))
    return {"acc1": acc1, "acc5": acc5, "mean_per_class_recall": float(sum(recalls) / len(recalls))}


@dataclass
class ZeroShotResult:
    """Metrics and one prediction per example (id, predicted class name, true class name, correct)."""

    metrics: Dict[str, float]
    predictions: List[Dict[str, object]] = field(default_factory=list)
    logits: Optional[torch.Tensor] = None


@torch.no_grad()
def encode_labelled_images(model, dataset, batch_size: int = 64,
                           normalize: bool = False) -> Tuple[List[str], torch.Tensor, List[int]]:
    """Ids, image features [N, D] and class indices of a ClassificationSet's examples (eval mode)."""
    classnames = list(dataset.classnames)
    index = {name: i for i, name in enumerate(classnames)}
    transform = model.preprocess(train=False)
    device = model.logit_scale.device
    was_training = model.training
    model.eval()
    ids: List[str] = []
    labels: List[int] = []
    features: List[torch.Tensor] = []
    batch: List[torch.Tensor] = []

    def flush() -> None:
        if batch:
            features.append(model.encode_image(torch.stack(batch).to(device), normalize=normalize).float().cpu())
            batch.clear()

    try:
        for ex in dataset:
            if ex.label not in index:
                raise ValueError(f"{getattr(dataset, 'name', 'dataset')}: example {ex.id} has label "
                                 f"{ex.label!r} not among the class names")
            ids.append(ex.id)
            labels.append(index[ex.label])
            batch.append(transform(ex.image))
            if len(batch) >= batch_size:
                flush()
        flush()
    finally:
        model.train(was_training)
    if not ids:
        raise ValueError(f"{getattr(dataset, 'name', 'dataset')}: no labelled examples")
    return ids, torch.cat(features), labels


@torch.no_grad()
def evaluate_zero_shot(model, dataset, batch_size: int = 64,
                       templates: Optional[Sequence[str]] = None) -> ZeroShotResult:
    """Zero-shot evaluation of `model` on a ClassificationSet (classnames, templates, labelled examples)."""
    classnames = list(dataset.classnames)
    classifier = build_classifier(model, classnames, list(templates or dataset.templates))
    ids, features, labels = encode_labelled_images(model, dataset, batch_size, normalize=True)
    logits = LOGIT_SCALE * features.to(classifier.device) @ classifier
    label_t = torch.tensor(labels)
    metrics = metrics_from_logits(logits, label_t)
    pred = logits.argmax(dim=1).tolist()
    predictions = [{"id": i, "prediction": classnames[p], "label": classnames[y], "correct": p == y}
                   for i, p, y in zip(ids, pred, labels)]
    return ZeroShotResult(metrics=metrics, predictions=predictions, logits=logits)
