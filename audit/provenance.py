"""Provenance of result files: what produced them (inputs and their SHA-256, tool version, seed, command line).

- ``sha256_path(path)``: SHA-256 of a file, or of a folder's files (relative names and contents, sorted).
- ``detector_identity(spec)``: a `--detector` value with the path and SHA-256 of the weights it names.
- ``Provenance``: the record itself; ``to_dict()`` is what result files embed.
- ``write_provenance(out_dir, provenance, files)``: ``provenance.json`` listing every result file with its
  SHA-256, so files without a place for metadata (CSV) are covered too.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Mapping, Sequence

from clip_core.atomic_files import atomic_write_text

PROVENANCE_FILE = "provenance.json"
_CHUNK = 1 << 20


def _update_with_file(digest: "hashlib._Hash", path: Path) -> None:
    """Feed a file's bytes into a digest in chunks."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)


def sha256_path(path: str | Path) -> str:
    """SHA-256 of a file, or of every file under a folder (relative path and bytes, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        _update_with_file(digest, path)
        return digest.hexdigest()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(child.relative_to(path).as_posix().encode("utf-8") + b"\0")
            _update_with_file(digest, child)
        return digest.hexdigest()
    raise FileNotFoundError(f"cannot hash {path}: no such file or folder")


def tool_version() -> str:
    """The installed clip-audit version ("unknown" when run from an uninstalled tree)."""
    try:
        return metadata.version("clip-audit")
    except metadata.PackageNotFoundError:
        return "unknown"


def detector_identity(spec: str) -> dict[str, str | None]:
    """A `--detector` value (default, PATH or sscd:PATH) with the path and SHA-256 of its weights."""
    if spec == "default":
        from detector.checkpoint import default_detector_path

        weights: Path | None = default_detector_path()
    else:
        weights = Path(spec[len("sscd:"):] if spec.startswith("sscd:") else spec)
    present = weights is not None and weights.exists()
    return {"spec": spec, "path": str(weights) if present else None, "sha256": sha256_path(weights) if present else None}


@dataclass(frozen=True)
class Provenance:
    """What produced a set of result files."""

    command_line: tuple[str, ...]
    seed: int | None = None
    model: str | None = None
    detector: str | None = None
    inputs: Mapping[str, object] = field(default_factory=dict)
    settings: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dictionary with hashes of the model and detector files and the tool version."""
        model = None
        if self.model is not None:
            model = {"path": self.model, "sha256": sha256_path(self.model) if Path(self.model).exists() else None}
        return {
            "tool": "clip-audit", "tool_version": tool_version(), "python": sys.version.split()[0],
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command_line": list(self.command_line), "seed": self.seed, "model": model,
            "detector": detector_identity(self.detector) if self.detector is not None else None,
            "inputs": dict(self.inputs), "settings": dict(self.settings),
        }


def write_provenance(out_dir: Path, record: Mapping[str, object], files: Sequence[Path]) -> Path:
    """Write OUT/provenance.json: the record plus each result file's name and SHA-256."""
    listed = {Path(f).name: sha256_path(f) for f in files}
    path = Path(out_dir) / PROVENANCE_FILE
    atomic_write_text(path, json.dumps({**record, "files": listed}, indent=2, default=str) + "\n")
    return path
