"""Training checkpoints: written atomically, read with ``weights_only=True`` (no code from a file runs); metric logs cut back on resume."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Union

import torch

from clip_core.atomic_files import atomic_torch_save, atomic_write_text
from clip_core.safe_load import load_weights_only

PathLike = Union[str, Path]
_PLAIN = (str, int, float, bool, type(None), torch.dtype, torch.device, torch.Size)


def _check_loadable(value: Any, where: str) -> None:
    """Raise TypeError when `value` holds something a weights_only load would refuse."""
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_loadable(key, where)
            _check_loadable(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple, set)):
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]")
        return
    raise TypeError(f"checkpoint field {where} is a {type(value).__name__}; only tensors and plain containers "
                    "may be saved (checkpoints are read back with weights_only=True)")


def save_training_state(path: PathLike, payload: Mapping[str, Any]) -> Path:
    """Write a training checkpoint atomically (temp file + rename); TypeError if it would not load with weights_only."""
    _check_loadable(payload, "checkpoint")
    path = Path(path)
    atomic_torch_save(dict(payload), path)
    return path


def load_training_state(path: PathLike, required: Sequence[str], device: Union[str, torch.device] = "cpu",
                        what: str = "training checkpoint") -> Dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; clear errors for a missing, unreadable, unsafe or incomplete file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    payload = load_weights_only(path, device)
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a {what} (a {type(payload).__name__}, not a dict)")
    missing = [k for k in required if k not in payload]
    if missing:
        raise ValueError(f"{path}: not a resumable {what} (missing fields {missing})")
    return payload


def truncate_metrics(path: PathLike, step: int) -> None:
    """Drop the lines of a metrics.jsonl logged after `step` (and a torn last line); ValueError on other bad lines."""
    path = Path(path)
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    keep = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            logged = int(record["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if number == len(lines):  # a write cut short by the crash being resumed from
                break
            raise ValueError(f"{path}: line {number} is not a metrics record with a 'step' field ({exc})") from exc
        if logged <= step:
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))
