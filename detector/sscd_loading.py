"""Loading SSCD's released `*.torchvision.pt` checkpoints (Pizzi et al. 2022) into the `sscd` variant."""
from __future__ import annotations

from pathlib import Path

import torch

from detector.config import DetectorConfig, TrunkConfig
from detector.model import Detector

PREFIX = "backbone."
SSCD_INPUT_SIZE = 320  # SSCD's "squash to 320x320" inference setting


def load_sscd_torchvision(path: str | Path, input_size: int = SSCD_INPUT_SIZE) -> Detector:
    """Load a `sscd_*.torchvision.pt` file: keys `backbone.<torchvision resnet50 key>`, `backbone.fc` 2048 -> dim."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SSCD checkpoint not found: {path}")
    if path.name.endswith(".torchscript.pt"):
        raise ValueError(f"{path}: TorchScript SSCD files are not supported; use the *.torchvision.pt release")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: cannot be read as a torch state dict ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path}: expected a state dict of SSCD torchvision weights")
    bad = [k for k in state if not str(k).startswith(PREFIX)]
    if bad:
        raise ValueError(f"{path}: key {bad[0]!r} does not start with {PREFIX!r} (not an SSCD torchvision file)")
    fc = state.get(PREFIX + "fc.weight")
    if fc is None or fc.ndim != 2:
        raise ValueError(f"{path}: missing field 'backbone.fc.weight' (the 2048 -> dim projection)")
    if fc.shape[1] != 2048:
        raise ValueError(f"{path}: 'backbone.fc.weight' has {fc.shape[1]} inputs, expected 2048 (ResNet-50)")
    config = DetectorConfig(variant="sscd", dim=int(fc.shape[0]), input_size=input_size, trunk=TrunkConfig())
    model = Detector(config)
    missing, unexpected = model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                                                strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: does not match torchvision resnet50 (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.metadata = {"source": f"sscd:{path}"}  # type: ignore[attr-defined]
    return model.eval()
