"""Learning-rate schedule: linear warm-up, then cosine decay."""
from __future__ import annotations

import math
from typing import Optional


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: Optional[int], min_lr: float = 0.0) -> float:
    """Learning rate at `step` (0-based): linear warm-up to `base_lr`, then cosine decay to `min_lr` at `total_steps`.

    With no known total (None), or a total within the warm-up, the rate stays at `base_lr` after warm-up.
    """
    if total_steps is not None and total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if total_steps is None or total_steps <= warmup_steps:
        return base_lr
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
