"""What a probe result was computed from: model and data hashes, split, prompts, label set, seed, versions."""
from __future__ import annotations

import hashlib
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

from clip_core.checkpoint import load_checkpoint


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model: torch.nn.Module) -> str:
    """Hex SHA-256 of a model's state dict (names, dtypes, shapes and values, in sorted name order)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


@dataclass(frozen=True)
class ProbeModel:
    """A CLIP model to probe and where it came from."""

    model: torch.nn.Module
    path: str | None
    file_sha256: str | None
    weights_sha256: str

    def identity(self) -> dict:
        """provenance.json entry of the model."""
        config = getattr(self.model, "config", None)
        return {"path": self.path, "file_sha256": self.file_sha256, "weights_sha256": self.weights_sha256,
                "activation": getattr(self.model, "activation", None),
                "config": config.to_dict() if hasattr(config, "to_dict") else None}


def load_probe_model(path: Path, device: str = "cpu") -> ProbeModel:
    """Load any checkpoint clip_core reads, with its file and weights hashes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    model = load_checkpoint(path, device=device).model
    return ProbeModel(model=model, path=str(path), file_sha256=file_sha256(path) if path.is_file() else None,
                      weights_sha256=weights_sha256(model))


def as_probe_model(model: "ProbeModel | torch.nn.Module") -> ProbeModel:
    """Wrap an in-memory model (hash of its weights only) unless it is already a ProbeModel."""
    if isinstance(model, ProbeModel):
        return model
    return ProbeModel(model=model, path=None, file_sha256=None, weights_sha256=weights_sha256(model))


def tool_version() -> str:
    """The installed clip-audit version."""
    try:
        return metadata.version("clip-audit")
    except metadata.PackageNotFoundError:
        return "unknown"


def data_file_entry(path: Path) -> dict:
    """provenance.json entry of one input file: path and SHA-256."""
    return {"path": str(path), "sha256": file_sha256(Path(path))}


def build_provenance(probe: str, model: ProbeModel, data: dict, prompts: dict, label_set: dict | None,
                     seed: int, config: dict) -> dict:
    """The provenance.json document of one probe run."""
    return {
        "probe": probe,
        "tool": {"name": "clip-audit", "version": tool_version()},
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model.identity(),
        "data": data,
        "prompts": prompts,
        "label_set": label_set,
        "seed": seed,
        "config": config,
        "environment": {"python": sys.version.split()[0], "platform": platform.platform(),
                        "torch": torch.__version__, "fairlearn": metadata.version("fairlearn")},
    }
