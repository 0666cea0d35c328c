"""``torch.load`` for untrusted files: ``weights_only=True`` (no code in the file runs) and errors that name the file."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Union

import torch


def load_weights_only(path: Union[str, os.PathLike], map_location: Union[str, torch.device] = "cpu") -> Any:
    """Unpickle tensors and plain containers only; ValueError naming `path` for unsafe or unreadable files."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: refused to unpickle objects other than tensors and plain containers "
            f"(loaded with weights_only=True because checkpoint files are untrusted; nothing in it was run): {exc}") from exc
    except Exception as exc:  # torch raises many types (KeyError, RuntimeError, EOFError, ...) for non-checkpoints
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
