"""The settings that determine a resumable stage's outputs, recorded in its output folder and checked on a rerun.

A stage (``embed``, ``overlap``, a demo stage) describes what its outputs depend on as a
``RunSettings``: fingerprints of its input sources (``fingerprint_source``: paths, sizes and
modification times of the files a location names, never their contents), a hash of the model
that computes them (``module_sha256``), its parameters and the tool version.
``record_or_check(out_dir, stage, settings, overwrite, outputs)`` writes
``OUT/<stage>.settings.json`` atomically on the first run; a rerun whose settings differ stops
with a ``SettingsMismatch`` that lists every difference as ``field: old -> new`` and says how to
start over (``--overwrite`` clears the stage's outputs, or a new ``--out``). Finished work is
therefore only ever resumed with the settings it was made with.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from clip_core.atomic_files import atomic_write_text

SETTINGS_SUFFIX = ".settings.json"


def tool_version() -> str:
    """The installed clip-audit version (``unknown`` when the package metadata is missing)."""
    try:
        return metadata.version("clip-audit")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class RunSettings:
    """What determines a stage's outputs: input fingerprints, model hash, parameters, tool version."""

    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    model: Mapping[str, Any] | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    version: str = field(default_factory=tool_version)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists, as they read back from the settings file)."""
        raw = {"inputs": self.inputs, "model": self.model, "parameters": self.parameters, "version": self.version}
        return json.loads(json.dumps(raw, sort_keys=True))


class SettingsMismatch(ValueError):
    """A rerun's settings differ from those recorded with the stage's existing outputs."""


@dataclass(frozen=True)
class _FileStat:
    path: str
    size: int
    mtime_ns: int


def _stat(path: Path, shown: str) -> _FileStat:
    """Size and modification time of one file (-1, -1 when it does not exist)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return _FileStat(shown, -1, -1)
    return _FileStat(shown, info.st_size, info.st_mtime_ns)


def _walk(root: Path) -> list[_FileStat]:
    """Every non-hidden file under a folder, by relative path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath) / name
                found.append(_stat(path, path.relative_to(root).as_posix()))
    return found


def _with_side_files(files: Iterable[Path]) -> list[_FileStat]:
    """Shard files plus their img2dataset parquet side files where present."""
    found = []
    for path in files:
        found.append(_stat(path, str(path.resolve())))
        side = path.with_suffix(".parquet")
        if path.suffix == ".tar" and side.is_file():
            found.append(_stat(side, str(side.resolve())))
    return found


def _listed_files(location: str) -> tuple[str, list[_FileStat]]:
    """(kind, files) a source location names: a folder's files, a CSV and its images, tar shards."""
    from clip_core.data.braces import expand_shard_pattern, has_pattern

    if location.startswith("synthetic"):
        return "synthetic", []
    path = Path(location)
    if has_pattern(location) and not path.exists():
        return "pattern", _with_side_files(expand_shard_pattern(location))
    if not path.exists():
        raise FileNotFoundError(f"source not found: {location}")
    if path.is_dir():
        return "folder", _walk(path)
    if path.suffix.lower() == ".csv":
        from clip_core.data.csv_source import CsvSource

        listed = [_stat(entry.path, str(Path(entry.path).resolve())) for entry in CsvSource(path).entries]
        return "csv", [_stat(path, str(path.resolve()))] + listed
    return "file", _with_side_files([path])


def fingerprint_source(location: str | os.PathLike[str]) -> dict[str, Any]:
    """A cheap fingerprint of an input location: kind, resolved location, file count, bytes, sha256 of the listing.

    Only file names, sizes and modification times are read, so a folder of a million images or a
    terabyte of tar shards is fingerprinted in seconds; any added, removed, resized or rewritten
    file changes the digest.
    """
    text = os.fspath(location)
    kind, files = _listed_files(text)
    digest = hashlib.sha256()
    for item in files:
        digest.update(f"{item.path}\t{item.size}\t{item.mtime_ns}\n".encode("utf-8"))
    shown = text if kind in ("synthetic", "pattern") else str(Path(text).resolve())
    return {"kind": kind, "location": shown, "files": len(files),
            "bytes": sum(max(item.size, 0) for item in files), "sha256": digest.hexdigest()}


def module_sha256(module: Any) -> str:
    """sha256 of a torch module's state dict (names, dtypes, shapes and values, in key order)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\t{value.dtype}\t{tuple(value.shape)}\n".encode("utf-8"))
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (`inputs.pretraining.sha256`)."""
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key in sorted(value):
            flat.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _shown(value: Any) -> str:
    """A value as a string for a difference line (strings such as paths in full, long lists shortened)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every field that differs between two settings records, as `field: old -> new`."""
    before, after = _flatten(old), _flatten(new)
    return [f"{key}: {_shown(before.get(key))} -> {_shown(after.get(key))}"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def settings_path(out_dir: str | Path, stage: str) -> Path:
    """Where a stage's settings are recorded: OUT/<stage>.settings.json."""
    return Path(out_dir) / f"{stage}{SETTINGS_SUFFIX}"


def _existing_outputs(out_dir: Path, outputs: Sequence[str]) -> list[Path]:
    """The stage's output paths (glob patterns relative to out_dir) that exist."""
    found: list[Path] = []
    for pattern in outputs:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ValueError(f"stage output {pattern!r} must be a path inside the output folder")
        found += sorted(out_dir.glob(pattern))
    return found


def clear_outputs(out_dir: str | Path, stage: str, outputs: Sequence[str]) -> list[Path]:
    """Remove a stage's outputs and its settings record; returns what was removed."""
    out = Path(out_dir)
    removed = _existing_outputs(out, outputs) + [p for p in [settings_path(out, stage)] if p.is_file()]
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def _read_record(path: Path) -> dict[str, Any]:
    """A settings file's content; a clear error naming the file when it is not a JSON object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsMismatch(f"{path}: unreadable settings record ({error}); rerun with --overwrite to start over") from error
    if not isinstance(record, dict):
        raise SettingsMismatch(f"{path}: a settings record must be a JSON object; rerun with --overwrite to start over")
    return record


def record_or_check(out_dir: str | Path, stage: str, settings: RunSettings, overwrite: bool = False,
                    outputs: Sequence[str] = ()) -> Path:
    """Record a stage's settings on its first run; on a rerun stop with the differences unless they match.

    ``outputs`` are the stage's output paths (glob patterns relative to ``out_dir``): ``overwrite``
    removes them before recording the new settings, and outputs found without any settings
    record are refused, since nothing says what made them.
    """
    out = Path(out_dir)
    path = settings_path(out, stage)
    record = {"stage": stage, **settings.to_dict()}
    if overwrite:
        clear_outputs(out, stage, outputs)
    elif path.is_file():
        changed = differences(_read_record(path), record)
        if changed:
            lines = "\n".join(f"  {line}" for line in changed)
            raise SettingsMismatch(
                f"{out} already holds '{stage}' results made with other settings ({path.name}):\n{lines}\n"
                f"Nothing was mixed. Rerun with --overwrite to clear this stage's results and start over, "
                f"or choose a new --out."
            )
        return path
    else:
        stale = _existing_outputs(out, outputs)
        if stale:
            names = ", ".join(p.name for p in stale[:5])
            raise SettingsMismatch(
                f"{out} holds '{stage}' results ({names}) without {path.name}, so their settings are unknown; "
                f"rerun with --overwrite to start over, or choose a new --out."
            )
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
