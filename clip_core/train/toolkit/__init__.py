"""The training toolkit shared by clip_core's and the detector's trainers.

- ``lr_at``: linear warm-up + cosine decay (``schedule``)
- ``param_groups``, ``build_adamw``, ``load_optimizer_state``: AdamW without weight decay on gains,
  biases, embeddings of rank < 2 and the logit scale; named groups checked on resume (``param_groups``)
- ``DistInfo``, ``distributed_session``, ``world``, ``all_gather_with_grad``, ``average_gradients``,
  ``mean_across_ranks``: torchrun setup/teardown and collectives (``distributed``)
- ``save_training_state``, ``load_training_state``, ``truncate_metrics``: atomic checkpoints read with
  ``weights_only=True``, metric logs cut back to the resumed step (``checkpointing``)
"""
from __future__ import annotations

from .checkpointing import load_training_state, save_training_state, truncate_metrics
from .distributed import (DistInfo, all_gather_with_grad, average_gradients, distributed_session,
                          mean_across_ranks, world)
from .param_groups import build_adamw, load_optimizer_state, param_groups
from .schedule import lr_at

__all__ = ["DistInfo", "all_gather_with_grad", "average_gradients", "build_adamw", "distributed_session",
           "load_optimizer_state", "load_training_state", "lr_at", "mean_across_ranks", "param_groups",
           "save_training_state", "truncate_metrics", "world"]
