"""A tiny preset trained briefly on the synthetic world beats chance three times over on synthetic:colors."""
from __future__ import annotations

import pytest

from clip_core.data import open_classification
from clip_core.train import TrainConfig, train
from clip_core.zeroshot import evaluate_zero_shot


def _train_and_eval(steps: int, batch_size: int, n: int) -> tuple[dict, float]:
    result = train(TrainConfig(data="synthetic", model="tiny", steps=steps, batch_size=batch_size, seed=0,
                               progress=False))
    data = open_classification(f"synthetic:colors?n={n}")
    ev = evaluate_zero_shot(result.model, data)
    assert len(ev.predictions) == n
    return ev.metrics, 1.0 / len(data.classnames)


@pytest.mark.slow  # ~15 s on idle cores, but minutes on a shared 2-core machine
def test_tiny_model_learns_colors_quickly():
    metrics, chance = _train_and_eval(steps=60, batch_size=32, n=100)
    assert metrics["acc1"] >= 3 * chance, metrics
