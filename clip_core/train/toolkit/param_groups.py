"""AdamW parameter groups: no weight decay on gains, biases, rank < 2 tensors and the logit scale; named groups."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch
from torch import nn

WEIGHT_NORM_GAIN = "parametrizations.weight.original0"  # the magnitude g of torch's weight_norm


def _is_exempt(name: str, param: torch.Tensor, exempt_names: set) -> bool:
    return (name in exempt_names or param.ndim < 2 or "bias" in name or "logit_scale" in name
            or name.endswith(WEIGHT_NORM_GAIN))


def param_groups(model: nn.Module, weight_decay: float) -> List[Dict[str, Any]]:
    """Two named AdamW groups: [exempt (weight decay 0), decayed]; a model may add names via `no_weight_decay_names()`.

    Exempt: the model's own `no_weight_decay_names()`, tensors of rank < 2 (gains, biases, 1-d embeddings),
    names containing "bias" or "logit_scale", and weight-norm gains. Frozen parameters are left out.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    exempt_names = set(model.no_weight_decay_names()) if hasattr(model, "no_weight_decay_names") else set()
    exempt: Dict[str, List[Any]] = {"params": [], "param_names": []}
    decay: Dict[str, List[Any]] = {"params": [], "param_names": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        group = exempt if _is_exempt(name, p, exempt_names) else decay
        group["params"].append(p)
        group["param_names"].append(name)
    return [{**exempt, "weight_decay": 0.0}, {**decay, "weight_decay": float(weight_decay)}]


def build_adamw(model: nn.Module, lr: float, weight_decay: float, betas: Sequence[float] = (0.9, 0.999),
                eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW over `param_groups(model, weight_decay)`."""
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    b1, b2 = (float(b) for b in betas)
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(b1, b2), eps=eps)


def _first_difference(saved: Sequence[str], ours: Sequence[str]) -> Tuple[str, str]:
    for a, b in zip(saved, ours):
        if a != b:
            return a, b
    return (f"{len(saved)} names", f"{len(ours)} names")


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: Mapping[str, Any], source: str) -> None:
    """Load a saved optimizer state after checking its groups hold the same named parameters; ValueError naming `source`."""
    saved_groups = state.get("param_groups") if isinstance(state, Mapping) else None
    if not isinstance(saved_groups, list):
        raise ValueError(f"{source}: field 'optimizer' is not an optimizer state (no param_groups list)")
    if len(saved_groups) != len(optimizer.param_groups):
        raise ValueError(f"{source}: the optimizer state has {len(saved_groups)} parameter groups, this run "
                         f"{len(optimizer.param_groups)}; it was written by another version or model, start a new run")
    for index, (saved, ours) in enumerate(zip(saved_groups, optimizer.param_groups)):
        names = saved.get("param_names")
        if names is not None and list(names) != list(ours.get("param_names", [])):
            theirs, mine = _first_difference(list(names), list(ours.get("param_names", [])))
            raise ValueError(f"{source}: optimizer parameter group {index} holds other parameters than this run "
                             f"(file {theirs!r} vs run {mine!r}); it was written by another model or version, "
                             "start a new run")
    try:
        optimizer.load_state_dict(dict(state))
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{source}: the optimizer state does not fit this run ({exc})") from exc
