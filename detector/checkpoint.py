"""Saving and loading detector checkpoints, the shipped default detector, and `--detector` specs."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from clip_core.atomic_files import atomic_torch_save
from detector.config import DetectorConfig
from detector.model import Detector

FORMAT = "clip-audit-detector"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "default.pt"
DEFAULT_METADATA = WEIGHTS_DIR / "default.json"


def save_detector(model: Detector, path: str | Path, metadata: dict[str, Any] | None = None,
                  half: bool = False, fold: bool = False) -> Path:
    """Save weights and configuration; `fold` removes weight-norm parametrisations, `half` stores fp16."""
    if fold and any(hasattr(m, "parametrizations") for m in model.modules()):
        model = model.folded_copy()
    folded = not any(hasattr(m, "parametrizations") for m in model.modules())
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": 1, "config": model.config.to_dict(), "folded": folded,
               "dtype": "float16" if half else "float32", "metadata": metadata or {}, "state_dict": state}
    atomic_torch_save(payload, path)
    return Path(path)


def load_detector(path: str | Path, map_location: str | torch.device = "cpu") -> Detector:
    """Load a detector saved by `save_detector` (or the `model` entry of a training checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detector checkpoint not found: {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if isinstance(payload, dict) and payload.get("format") != FORMAT and isinstance(payload.get("model"), dict):
        payload = payload["model"]  # a training checkpoint
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        if isinstance(payload, dict) and any(str(k).startswith("backbone.") for k in payload):
            raise ValueError(f"{path}: this looks like an SSCD torchvision checkpoint; use --detector sscd:{path}")
        raise ValueError(f"{path}: not a clip-audit detector checkpoint (field 'format' != {FORMAT!r})")
    config = DetectorConfig.from_dict(payload["config"], source=f"{path} field 'config'")
    model = Detector(config)
    if payload.get("folded"):
        model.fold_for_inference()
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    result = model.load_state_dict(state, strict=True)
    del result
    model.metadata = dict(payload.get("metadata", {}))  # type: ignore[attr-defined]
    return model.eval()


def calibrated_threshold(model: Detector) -> float | None:
    """The detector's calibrated default threshold on its global similarity, from its config or metadata."""
    if model.config.threshold is not None:
        return float(model.config.threshold)
    value = getattr(model, "metadata", {}).get("threshold")
    return None if value is None else float(value)


def default_detector_path() -> Path:
    """Where the shipped default detector lives (package data)."""
    return DEFAULT_WEIGHTS


def load_default_detector() -> Detector:
    """The detector shipped inside the package; a clear error if its weights are not installed."""
    if not DEFAULT_WEIGHTS.is_file():
        raise FileNotFoundError(
            f"the default detector weights are missing: {DEFAULT_WEIGHTS} does not exist. Train them with "
            "scripts/train_default_detector.sh (see docs), or pass --detector PATH / sscd:PATH."
        )
    model = load_detector(DEFAULT_WEIGHTS)
    if DEFAULT_METADATA.is_file():
        model.metadata.update(json.loads(DEFAULT_METADATA.read_text(encoding="utf-8")))  # type: ignore[attr-defined]
    if model.metadata.get("warning"):  # type: ignore[attr-defined]
        warnings.warn(f"default detector: {model.metadata['warning']}", UserWarning, stacklevel=2)  # type: ignore[attr-defined]
    return model


def resolve_detector(spec: str) -> Detector:
    """Load a detector from a `--detector` value: `default`, `sscd:PATH`, or a checkpoint PATH."""
    if spec == "default":
        return load_default_detector()
    if spec.startswith("sscd:"):
        from detector.sscd_loading import load_sscd_torchvision

        return load_sscd_torchvision(spec[len("sscd:"):])
    return load_detector(spec)
