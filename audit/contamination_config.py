"""The configuration of an image-mode contamination audit, from command-line options or a TOML file.

A TOML file holds the same settings as the options (relative paths are relative to the file):

    pretraining = "shards/{00000..00099}.tar"
    out = "audit/"
    model = "runs/vitb32/checkpoint.pt"     # or a [predictions] table
    detector = "default"
    labels = "audit/labels.csv"             # optional
    [eval]
    cifar100 = "cifar100_test/"
    [thresholds]                            # optional, on the overlap stage's score
    cifar100 = 0.6

Other keys: default_threshold, target_precision, top_k, confidence, seed, bootstrap_resamples,
batch_size, device, verify, candidate_floor, candidates_per_set, and [predictions], [classnames],
[templates] tables (class-name and template files are also relative to the file).
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_PATH_KEYS = ("pretraining", "out", "model", "labels")
_TABLE_KEYS = ("eval", "predictions", "thresholds", "classnames", "templates")
_SCALAR_KEYS = ("detector", "default_threshold", "target_precision", "top_k", "confidence", "seed",
                "bootstrap_resamples", "batch_size", "device", "verify", "candidate_floor", "candidates_per_set")


@dataclass(frozen=True)
class ImageAuditConfig:
    """Everything an image-mode audit needs: sources, predictions or a model, thresholds, statistics settings."""

    pretraining: str
    eval_sources: Mapping[str, str]
    out: Path
    model: Path | None = None
    predictions: Mapping[str, Path] = field(default_factory=dict)
    detector: str = "default"
    labels: Path | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    default_threshold: float | None = None
    target_precision: float = 0.95
    top_k: int = 5
    confidence: float = 0.995
    seed: int = 0
    bootstrap_resamples: int = 10_000
    classnames: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 64
    device: str = "cpu"
    verify: bool = True
    candidate_floor: float = 0.5
    candidates_per_set: int = 3
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not self.eval_sources:
            raise ValueError("no evaluation set: pass --eval NAME=SOURCE (or an [eval] table in the config)")
        names = set(self.eval_sources)
        if self.model is None and not self.predictions:
            raise ValueError("image mode needs --model CKPT or --predictions NAME=CSV for every evaluation set")
        if self.model is not None and self.predictions:
            raise ValueError("give either --model or --predictions, not both")
        if self.predictions:
            unknown, missing = sorted(set(self.predictions) - names), sorted(names - set(self.predictions))
            if unknown:
                raise ValueError(f"--predictions names dataset(s) {unknown} that are not --eval sets {sorted(names)}")
            if missing:
                raise ValueError(f"--predictions missing for evaluation set(s) {missing}")
        for option, mapping in (("--threshold", self.thresholds), ("--classnames", self.classnames),
                                ("--templates", self.templates)):
            unknown = sorted(set(mapping) - names)
            if unknown:
                raise ValueError(f"{option} names dataset(s) {unknown} that are not --eval sets {sorted(names)}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must lie in (0, 1), got {self.confidence}")
        if not 0.0 < self.target_precision <= 1.0:
            raise ValueError(f"target_precision must lie in (0, 1], got {self.target_precision}")
        if self.top_k < 1 or self.bootstrap_resamples < 1 or self.batch_size < 1:
            raise ValueError("top_k, bootstrap_resamples and batch_size must be positive")
        if self.default_threshold is not None and not math.isfinite(self.default_threshold):
            raise ValueError(f"default_threshold must be a number, got {self.default_threshold}")


def _string_table(raw: Mapping[str, Any], key: str, path: Path) -> dict[str, str]:
    """A TOML table of NAME = "value" strings."""
    table = raw.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"{path}: [{key}] must be a table of NAME = \"...\" strings")
    return dict(table)


def _resolved(base: Path, value: str) -> str:
    """A path relative to the config file's folder (absolute paths, brace patterns and synthetic: kept)."""
    if value.startswith("synthetic") or Path(value).is_absolute():
        return value
    return str(base / value)


def _file_or_name(base: Path, value: str) -> str:
    """A class-name or template spec: a file relative to the config file when one exists there, else a built-in name."""
    candidate = base / value
    return str(candidate) if not Path(value).is_absolute() and candidate.is_file() else value


def load_config(path: Path) -> ImageAuditConfig:
    """Read an audit TOML file into an ImageAuditConfig, naming the file and key on bad input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error
    unknown = sorted(set(raw) - set(_PATH_KEYS) - set(_TABLE_KEYS) - set(_SCALAR_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}")
    for key in ("pretraining", "out"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"{path}: '{key}' must be given as a string")
    base = path.parent
    thresholds = raw.get("thresholds", {})
    if not isinstance(thresholds, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in thresholds.values()):
        raise ValueError(f"{path}: [thresholds] must be a table of NAME = number")
    scalars = {k: raw[k] for k in _SCALAR_KEYS if k in raw}
    try:
        return ImageAuditConfig(
            pretraining=_resolved(base, raw["pretraining"]),
            eval_sources={n: _resolved(base, s) for n, s in _string_table(raw, "eval", path).items()},
            out=Path(_resolved(base, raw["out"])),
            model=Path(_resolved(base, raw["model"])) if "model" in raw else None,
            predictions={n: Path(_resolved(base, p)) for n, p in _string_table(raw, "predictions", path).items()},
            labels=Path(_resolved(base, raw["labels"])) if "labels" in raw else None,
            thresholds={n: float(v) for n, v in thresholds.items()},
            classnames={n: _file_or_name(base, v) for n, v in _string_table(raw, "classnames", path).items()},
            templates={n: _file_or_name(base, v) for n, v in _string_table(raw, "templates", path).items()},
            **scalars,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error
